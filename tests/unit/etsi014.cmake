# tests/unit/etsi014.cmake: unit tests of the ETSI 014 codec (qkd014; docs/etsi014.md), one file
# per source file (etsi014.c, etsi014_req.c, etsi014_json.c), and the replay of its fuzz target
# (route, queries, bodies, client decoders) over the committed seed corpus plus deterministic
# mutations, driven by fuzz/replay_main.c (no libFuzzer).
foreach(t test_etsi014 test_etsi014_req test_etsi014_json)
  qkd_unit_test(${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c LIBS qkd014)
endforeach()
add_executable(replay_fuzz_etsi014 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_etsi014.c
               ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.c)
target_link_libraries(replay_fuzz_etsi014 PRIVATE qkd014)
add_test(NAME replay_fuzz_etsi014
         COMMAND replay_fuzz_etsi014 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_etsi014 20000)
set_tests_properties(replay_fuzz_etsi014 PROPERTIES LABELS unit TIMEOUT 120)
