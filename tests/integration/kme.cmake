# tests/integration/kme.cmake: qkd-kme end to end (real keygen pairs and key servers on
# 127.0.0.1, certificates from the qkd_certs fixture, qkd-client and a raw-TLS python driver).
foreach(t kme_reference kme_sync kme_wait kme_restart kme_leader_restart kme_semantics kme_auth
          kme_malformed kme_3node kme_guard kme_limits kme_exhaust kme_double_restart)
  qkd_integration_test(${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.sh
                       TIMEOUT 240)
  set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED qkd_certs LABELS "integration;kme")
endforeach()
# Fault soak, short version (a few thousand keys, one fault of each kind; the full run is in
# docs/kme.md). Python drives libqkd004 through ctypes, which an ASan-instrumented library
# cannot be loaded into without the sanitizer runtime, so it runs in the plain build only.
if(NOT QKD_SANITIZE)
  qkd_integration_test(kme_fault_soak TIMEOUT 300
    COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/fault_soak.py --bin
    ${CMAKE_BINARY_DIR}/bin --certs ${QKD_TEST_CERTS} --keys 3000 --faults 5 --max-seconds 200)
  set_tests_properties(kme_fault_soak PROPERTIES FIXTURES_REQUIRED qkd_certs
                       LABELS "integration;kme")
endif()
# ETSI 014 listener end to end (python3 stdlib: ssl + http.client with client certificates; the
# SAE identities come from the qkd_certs fixture, tests/integration/certs.cmake).
qkd_integration_test(kme_etsi014 TIMEOUT 240
  COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/integration/kme_etsi014.py)
set_tests_properties(kme_etsi014 PROPERTIES FIXTURES_REQUIRED qkd_certs LABELS "integration;kme")
