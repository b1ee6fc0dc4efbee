# tests/integration/hybrid.cmake: qkd-hybrid on 127.0.0.1. The KEM-only tests start two
# daemons with their own certificates; the QKD tests bring up keygens and key servers with
# scripts/local-net.sh (unique ring prefix and free ports, so tests run concurrently).
# hybrid_bench is a program that prints numbers (not a test): see docs/hybrid.md.
find_program(QKD_PYTHON3 python3)
if(QKD_PYTHON3)
  set(_hyb ${CMAKE_CURRENT_LIST_DIR})
  qkd_integration_test(hybrid_peer_security TIMEOUT 180
    COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_peer_security.py)
  qkd_integration_test(hybrid_json_listener TIMEOUT 120
    COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_json_listener.py)
  qkd_integration_test(hybrid_matrix TIMEOUT 400 COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_matrix.py)
  qkd_integration_test(hybrid_qkd_faults TIMEOUT 240
    COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_qkd_faults.py)
  qkd_integration_test(hybrid_qkd_faults_initiator TIMEOUT 240
    COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_qkd_faults_initiator.py)
  qkd_integration_test(hybrid_peer_batch TIMEOUT 180
    COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_peer_batch.py)
  qkd_integration_test(hybrid_confirm_path TIMEOUT 120
    COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_confirm_path.py)
  qkd_integration_test(hybrid_three_nodes TIMEOUT 240
    COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_three_nodes.py)
  # The library KEMs: exchanged when built in, refused by name when not (docs/hybrid.md).
  set(_mce 0)
  set(_ntru 0)
  if(QKD_MCELIECE_INCLUDE AND QKD_MCELIECE_LIB AND QKD_RANDOMBYTES_LIB AND QKD_WITH_PQKEM)
    set(_mce 1)
  endif()
  if(QKD_NTRUPRIME_INCLUDE AND QKD_NTRUPRIME_LIB AND QKD_RANDOMBYTES_LIB AND QKD_WITH_PQKEM)
    set(_ntru 1)
  endif()
  qkd_integration_test(hybrid_pqkem TIMEOUT 300
    COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_pqkem.py ${_mce} ${_ntru})
  foreach(_case stale dead restart bulk repeat)
    qkd_integration_test(hybrid_pairing_${_case} TIMEOUT 180
      COMMAND ${QKD_PYTHON3} ${_hyb}/hybrid_pairing.py ${_case})
  endforeach()
endif()
qkd_integration_test(hybrid_config TIMEOUT 120 COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/hybrid_config.sh)

add_executable(hybrid_bench ${CMAKE_CURRENT_LIST_DIR}/hybrid_bench.c)
target_link_libraries(hybrid_bench PRIVATE qkd004_static Threads::Threads)
