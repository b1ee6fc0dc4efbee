# tests/integration/metrics.cmake: the metrics endpoints of every daemon on a local-net network
# (docs/observability.md): values moving with traffic, link down and healthz 503, a real
# Prometheus parser, the status page in headless chromium.
qkd_integration_test(metrics_localnet COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/metrics_localnet.sh
                     TIMEOUT 240)
set_tests_properties(metrics_localnet PROPERTIES FIXTURES_REQUIRED qkd_certs RUN_SERIAL TRUE)
