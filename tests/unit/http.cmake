# tests/unit/http.cmake: unit tests of the HTTP layer (plain and HTTPS) and the Prometheus
# exposition writer (qkdhttp; docs/observability.md).
qkd_unit_test(test_http SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http.c LIBS qkdhttp)
qkd_unit_test(test_http_hdrs SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http_hdrs.c LIBS qkdhttp)
qkd_unit_test(test_prom SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_prom.c LIBS qkdhttp)
# HTTPS over mutual TLS (https_server.c), on the conn.c test fixture (conn_env.c).
qkd_unit_test(test_https_server SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_https_server.c
              ${CMAKE_CURRENT_SOURCE_DIR}/unit/conn_env.c LIBS qkdhttp)
set_tests_properties(test_https_server PROPERTIES FIXTURES_REQUIRED qkd_certs)
qkd_unit_test(test_http_resp SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http_resp.c
              LIBS qkdhttp)
