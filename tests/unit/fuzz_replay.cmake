# tests/unit/fuzz_replay.cmake: replay of the libFuzzer targets of the keygen link protocol, the
# hybrid daemon's parsers (peer messages, JSON messages, request URIs, node config) and the key
# servers' peer-sync codec and the HTTP request parser (http.c): each target's LLVMFuzzerTestOneInput, driven by fuzz/replay_main.c
# (no libFuzzer), runs over its committed seed corpus (tests/fuzz/corpus/<target>) and then a
# fixed number of deterministic mutations, linked against the module's own static library, so
# the normal, sanitizer and valgrind builds all cover them. The codec's targets are replayed in
# common_codec.cmake.

# qkd_fuzz_replay(<target> LIBS <libs...> [ITERATIONS <n>]): test replay_<target>, label unit.
function(qkd_fuzz_replay target)
  cmake_parse_arguments(R "" "ITERATIONS" "LIBS" ${ARGN})
  if(NOT R_ITERATIONS)
    set(R_ITERATIONS 20000)
  endif()
  add_executable(replay_${target} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${target}.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.c)
  target_link_libraries(replay_${target} PRIVATE ${R_LIBS})
  add_test(NAME replay_${target}
           COMMAND replay_${target} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${target}
                   ${R_ITERATIONS})
  set_tests_properties(replay_${target} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

qkd_fuzz_replay(fuzz_keygen_proto LIBS qkdkeygen)
qkd_fuzz_replay(fuzz_hybrid_peer_msg LIBS qkdhybrid)
qkd_fuzz_replay(fuzz_hybrid_json_msg LIBS qkdhybrid)
qkd_fuzz_replay(fuzz_hybrid_request LIBS qkdhybrid)
qkd_fuzz_replay(fuzz_hybrid_node_config LIBS qkdhybrid)
qkd_fuzz_replay(fuzz_kme_peer_msg LIBS qkdkme)
qkd_fuzz_replay(fuzz_http_request LIBS qkdhttp)
qkd_fuzz_replay(fuzz_http_response LIBS qkdhttp)
