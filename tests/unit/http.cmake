# tests/unit/http.cmake: unit tests of the HTTP layer and the Prometheus exposition writer
# (qkdhttp; docs/observability.md).
qkd_unit_test(test_http SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http.c LIBS qkdhttp)
qkd_unit_test(test_prom SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_prom.c LIBS qkdhttp)
