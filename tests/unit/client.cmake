# tests/unit/client.cmake: libqkd004 unit tests against a scripted in-process fake server.
foreach(t test_qkd004 test_qkd004_io)
  qkd_unit_test(${t} SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/${t}.c
    ${PROJECT_SOURCE_DIR}/tests/unit/test_qkd004_fake.c
    LIBS qkd004_obj qkdrt)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/src/client)
  set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED qkd_certs TIMEOUT 60)
endforeach()
