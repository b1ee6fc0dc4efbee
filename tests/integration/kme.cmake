# tests/integration/kme.cmake: qkd-kme end to end (real keygen pairs and key servers on
# 127.0.0.1, certificates from the qkd_certs fixture, qkd-client and a raw-TLS python driver).
foreach(t kme_reference kme_sync kme_wait kme_restart kme_leader_restart kme_semantics kme_auth
          kme_malformed kme_3node kme_guard)
  qkd_integration_test(${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.sh
                       TIMEOUT 240)
  set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED qkd_certs LABELS "integration;kme")
endforeach()
