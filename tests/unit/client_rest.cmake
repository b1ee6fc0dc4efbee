# tests/unit/client_rest.cmake: the ETSI 014 client (qkdrest) against a scripted HTTPS server in
# the test, and qkd-client rest's argument handling (docs/client.md).
qkd_unit_test(test_rest_client SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_rest_client.c
              LIBS qkdrest Threads::Threads)
set_tests_properties(test_rest_client PROPERTIES FIXTURES_REQUIRED qkd_certs TIMEOUT 60)
qkd_unit_test(test_cli_rest SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cli_rest.c
              ${PROJECT_SOURCE_DIR}/src/client/cli_rest.c LIBS qkdrest)
