"""What the log pipeline, Loki and the alert rules must agree on when
Promtail reads a node's log files again (the kubernetes target, whose
Promtail keeps its positions in its pod: stack/components/promtail.py
BACK_STAGES). Its own module: the components and the rules both read it,
and they import each other the other way round."""

# How far behind its stream's newest entry Loki still accepts a line: half of
# ingester.max_chunk_age, left at its default of 2h (pkg/ingester/stream.go,
# Loki 3.7: cutoff = highestTs - MaxChunkAge/2). An older one is refused.
LOKI_OUT_OF_ORDER_WINDOW = "1h"
# The drop stage's reason (logentry_dropped_lines_total{reason=...}) for lines
# older than that, which the pipeline drops before Loki would refuse them.
OLDER_THAN_LOKI_ACCEPTS = "older_than_loki_accepts"
