# tests/unit/kme.cmake: unit tests of qkd-kme's pure parts (qos negotiation, stream table and
# window, peer-sync codec); they link the qkdkme library.
qkd_unit_test(test_kme_qos SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_kme_qos.c LIBS qkdkme)
qkd_unit_test(test_kme_stream SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_kme_stream.c
              LIBS qkdkme)
qkd_unit_test(test_kme_peer_msg SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_kme_peer_msg.c
              LIBS qkdkme)
# The follower's side of the allocation protocol (alloc.c) with the peer connection and the
# ETSI answers replaced by recorders defined in the test.
qkd_unit_test(test_kme_alloc SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_kme_alloc.c
              LIBS qkdkme)
