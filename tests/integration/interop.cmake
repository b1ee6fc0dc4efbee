# tests/integration/interop.cmake: the ETSI 004 dialects with real clients. dialect_e: qkd-client
# in the E framing (ETSI's C library's dialect) and raw E frames against key servers and hybrid
# daemons, next to the Q answers. interop_wg_qrotator: ETSI's C library itself, as PyPI's
# wg-qrotator ships it, driven through ctypes like wg-qrotator does (skipped, exit 77, only when
# the package is not cached and no registry can be reached). interop_etsi014: PyPI's
# etsi-qkd-014-client (a third-party ETSI 014 client) against the key servers of a local-net
# network (skipped, exit 77, on the same condition).
find_program(QKD_PYTHON3 python3)
if(QKD_PYTHON3)
  qkd_integration_test(dialect_e TIMEOUT 240
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/dialect_e.sh)
  qkd_integration_test(interop_wg_qrotator TIMEOUT 600
    COMMAND env QKD_PYTHON3=${QKD_PYTHON3}
            bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/interop_wg_qrotator.sh)
  set_tests_properties(dialect_e interop_wg_qrotator PROPERTIES FIXTURES_REQUIRED qkd_certs
    LABELS "integration;kme;hybrid;interop")
  set_tests_properties(interop_wg_qrotator PROPERTIES SKIP_RETURN_CODE 77)
  qkd_integration_test(interop_etsi014 TIMEOUT 600
    COMMAND env QKD_PYTHON3=${QKD_PYTHON3}
            bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/interop_etsi014.sh)
  set_tests_properties(interop_etsi014 PROPERTIES SKIP_RETURN_CODE 77
    LABELS "integration;kme;interop")
endif()
