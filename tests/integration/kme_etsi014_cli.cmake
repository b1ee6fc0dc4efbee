# tests/integration/kme_etsi014_cli.cmake: qkd-client rest and qkd-bench rest against two key
# servers with the ETSI 014 listener (docs/client.md).
qkd_integration_test(kme_etsi014_cli COMMAND bash
                     ${CMAKE_CURRENT_SOURCE_DIR}/integration/kme_etsi014_cli.sh TIMEOUT 300)
set_tests_properties(kme_etsi014_cli PROPERTIES FIXTURES_REQUIRED qkd_certs
                     LABELS "integration;kme")
