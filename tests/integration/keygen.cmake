# tests/integration/keygen.cmake: the keygen link on loopback (pair, ring full, restarts, SKR
# accuracy, peer name check, QBER and outage knobs) and local-net.sh, plus qkd-ringcheck, a
# test-only tool that inspects a ring without consuming it.
add_executable(qkd-ringcheck ${CMAKE_CURRENT_SOURCE_DIR}/integration/keygen_ringcheck.c)
target_link_libraries(qkd-ringcheck PRIVATE qkdring OpenSSL::Crypto)

foreach(t keygen_pair keygen_full keygen_restart keygen_skr keygen_peer_name keygen_proto
        keygen_localnet keygen_qber keygen_outage keygen_handshakes)
  qkd_integration_test(${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.sh
                       TIMEOUT 120)
  set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED qkd_certs)
endforeach()
