# tests/unit/common_tls.cmake: unit tests of the TLS setup (tls.c) and the framed connection
# (conn.c, sock.c) and the listener (listener.c). They need the test certificates (fixture
# qkd_certs).
qkd_unit_test(test_tls SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_tls.c LIBS qkdrt)
qkd_unit_test(test_conn SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_conn.c
              ${CMAKE_CURRENT_SOURCE_DIR}/unit/conn_env.c LIBS qkdrt)
qkd_unit_test(test_conn_pause SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_conn_pause.c
              ${CMAKE_CURRENT_SOURCE_DIR}/unit/conn_env.c LIBS qkdrt)
qkd_unit_test(test_sock SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sock.c LIBS qkdrt)
set_tests_properties(test_tls test_conn test_conn_pause PROPERTIES FIXTURES_REQUIRED qkd_certs)
qkd_unit_test(test_listener SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_listener.c LIBS qkdrt)
set_tests_properties(test_listener PROPERTIES FIXTURES_REQUIRED qkd_certs)
qkd_unit_test(test_conn_io SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_conn_io.c LIBS qkdrt)
set_tests_properties(test_conn_io PROPERTIES FIXTURES_REQUIRED qkd_certs)
