# tests/integration/certs.cmake: certs/generate_certs.sh name rules.
qkd_integration_test(certs_names TIMEOUT 120
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/certs_names.sh)
set_tests_properties(certs_names PROPERTIES LABELS "integration;certs")
