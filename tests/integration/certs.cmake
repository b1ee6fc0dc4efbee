# tests/integration/certs.cmake: certs/generate_certs.sh name rules, and the ETSI 014 SAE
# identities added to the qkd_certs fixture.
qkd_integration_test(certs_names TIMEOUT 120
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/certs_names.sh)
set_tests_properties(certs_names PROPERTIES LABELS "integration;certs")
# ETSI 014 SAEs (CN = SAE_ID, clientAuth) for tests/integration/kme_etsi014.py: two more SAEs
# per node of the alice-bob link (the node's application, CN <node>-app, is the first) and
# "mallory-app", in no key server's SAE directory (certs_sae.sh says where they are written). A
# second setup step of the same fixture, run after certs_fixture (generate_certs.sh keeps what
# exists and adds what is missing).
add_test(NAME certs_fixture_sae COMMAND ${CMAKE_COMMAND} -E env OPENSSL=${QKD_OPENSSL_BIN}
  sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/certs_sae.sh
  ${PROJECT_SOURCE_DIR}/certs/generate_certs.sh ${QKD_TEST_CERTS})
set_tests_properties(certs_fixture_sae PROPERTIES FIXTURES_SETUP qkd_certs DEPENDS certs_fixture
                     LABELS fixture)
