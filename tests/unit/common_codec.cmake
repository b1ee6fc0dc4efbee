# tests/unit/common_codec.cmake: unit tests of qkdcodec (types, bytes, wire, qos_codec, uri,
# dialect) and replay of the libFuzzer targets over their committed seed corpus plus
# deterministic mutations.
qkd_unit_test(test_types SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_types.c LIBS qkdcodec)
qkd_unit_test(test_bytes SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_bytes.c LIBS qkdcodec)
qkd_unit_test(test_wire SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_wire.c LIBS qkdcodec)
target_compile_definitions(test_wire PRIVATE QKD_TEST_SRC_DIR="${PROJECT_SOURCE_DIR}")
qkd_unit_test(test_qos_codec SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_qos_codec.c LIBS qkdcodec)
qkd_unit_test(test_uri SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_uri.c LIBS qkdcodec)
qkd_unit_test(test_dialect SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_dialect.c LIBS qkdcodec)

# Fuzz replay: each target's LLVMFuzzerTestOneInput driven by replay_main.c (no libFuzzer).
set(QKD_FUZZ_REPLAY_ITERATIONS 20000)
foreach(target fuzz_wire_request fuzz_wire_response fuzz_uri)
  add_executable(replay_${target} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${target}.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.c)
  target_link_libraries(replay_${target} PRIVATE qkdcodec)
  add_test(NAME replay_${target}
           COMMAND replay_${target} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${target}
                   ${QKD_FUZZ_REPLAY_ITERATIONS})
  set_tests_properties(replay_${target} PROPERTIES LABELS unit TIMEOUT 120)
endforeach()
