# tests/integration/client.cmake: qkd-client against real key servers (local-net.sh), qkd-bench
# smoke run, and the installed libqkd004 (find_package and pkg-config builds of the example).
qkd_integration_test(client_cli TIMEOUT 240
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/client_cli.sh)
qkd_integration_test(client_bench TIMEOUT 180
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/client_bench.sh)
# Packaging check; in a sanitizer build the installed libraries need the sanitizer runtimes,
# which an ordinary consumer program does not link, so it runs in the plain build only.
if(NOT QKD_SANITIZE)
  qkd_integration_test(client_install TIMEOUT 240
    COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/client_install.sh ${CMAKE_BINARY_DIR}
    ${CMAKE_COMMAND})
endif()
set_tests_properties(client_cli client_bench PROPERTIES FIXTURES_REQUIRED qkd_certs)
