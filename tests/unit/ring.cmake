# tests/unit/ring.cmake: unit tests of the shared-memory key ring (src/ring).
qkd_unit_test(test_ring SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_ring.c LIBS qkdring)
# The keygen's pure parts (link protocol codec and resync rule, token bucket).
qkd_unit_test(test_keygen_proto SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_keygen_proto.c
              LIBS qkdkeygen)
qkd_unit_test(test_keygen_pacing SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_keygen_pacing.c
              LIBS qkdkeygen)
qkd_unit_test(test_keygen_emul SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/test_keygen_emul.c
              LIBS qkdkeygen)
