# tests/unit/hybrid.cmake: unit tests of src/hybrid (one file per source file), and the check
# that the combiner vectors pinned in C equal the independent Python recomputation.
foreach(t source kdf combiner kem kem_lib sign request node_config peer_msg json_msg)
  qkd_unit_test(test_hybrid_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hybrid_${t}.c
                LIBS qkdhybrid)
endforeach()

find_program(QKD_PYTHON3 python3)
if(QKD_PYTHON3)
  add_test(NAME test_hybrid_kat_python
           COMMAND ${QKD_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/hybrid_kat/kat.py --check
                   ${CMAKE_CURRENT_LIST_DIR}/test_hybrid_combiner.c)
  set_tests_properties(test_hybrid_kat_python PROPERTIES LABELS unit TIMEOUT 60)
endif()
