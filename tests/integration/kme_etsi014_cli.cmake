# tests/integration/kme_etsi014_cli.cmake: qkd-client rest and qkd-bench rest against two key
# servers with the ETSI 014 listener, and against a scripted one (docs/client.md).
qkd_integration_test(kme_etsi014_cli COMMAND bash
                     ${CMAKE_CURRENT_SOURCE_DIR}/integration/kme_etsi014_cli.sh TIMEOUT 300)
set_tests_properties(kme_etsi014_cli PROPERTIES FIXTURES_REQUIRED qkd_certs
                     LABELS "integration;kme")
# qkd-bench rest / qkd-client rest against a scripted 014 server (tests/integration/
# etsi014_fake.py): key mismatch -> exit 3, a server closing after every answer.
qkd_integration_test(client_rest_fake TIMEOUT 240 COMMAND bash
                     ${CMAKE_CURRENT_SOURCE_DIR}/integration/client_rest_fake.sh)
set_tests_properties(client_rest_fake PROPERTIES FIXTURES_REQUIRED qkd_certs)
