module gateway-observability/bench/promtail_pipeline

go 1.27
