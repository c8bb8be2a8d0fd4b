# written by convlog-bench --plot-dir; redraw: gnuplot plots.gp
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 900,500 noenhanced font ',10'
} else {
  set terminal png size 900,500 noenhanced
}
set datafile missing '-'
set logscale x 10
set xrange [62500:4800000]
set xlabel 'store size (messages, log scale)'
set grid
set key left top box opaque
set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 1.4
set style line 2 lc rgb '#d62728' lw 2 pt 5 ps 1.4
set style line 3 lc rgb '#1f77b4' lw 2 pt 6 ps 1.4 dt 2
set style line 4 lc rgb '#d62728' lw 2 pt 4 ps 1.4 dt 2
set xtics ('100k' 100000, '1M' 1000000, '3M' 3000000)

set output '/work/main/bench/results/plots/bulk_import.png'
set title '1. bulk import, 1000 msgs/txn, full-text indexed (msgs/s, higher is better)'
set ylabel 'msgs/s'
unset logscale y
set yrange [0:*]
plot '/work/main/bench/results/plots/bulk_import.dat' using 1:2 with linespoints ls 1 title 'convlog', \
     '/work/main/bench/results/plots/bulk_import.dat' using 1:3 with linespoints ls 2 title 'sqlite'

set output '/work/main/bench/results/plots/append_1t.png'
set title '2. durable appends, 1 thread, commit latency (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/append_1t.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/append_1t.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/append_1t.dat' using 1:4 with linespoints ls 3 title 'convlog p99', \
     '/work/main/bench/results/plots/append_1t.dat' using 1:5 with linespoints ls 4 title 'sqlite p99'

set output '/work/main/bench/results/plots/append_4t.png'
set title '3. durable appends, 4 threads, commit latency (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/append_4t.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/append_4t.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/append_4t.dat' using 1:4 with linespoints ls 3 title 'convlog p99', \
     '/work/main/bench/results/plots/append_4t.dat' using 1:5 with linespoints ls 4 title 'sqlite p99'

set output '/work/main/bench/results/plots/tail_read.png'
set title '4. tail read, last 50 msgs of a conversation (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/tail_read.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/tail_read.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/tail_read.dat' using 1:4 with linespoints ls 3 title 'convlog p99', \
     '/work/main/bench/results/plots/tail_read.dat' using 1:5 with linespoints ls 4 title 'sqlite p99'

set output '/work/main/bench/results/plots/recent_convs.png'
set title '5. a user''s 20 most recent conversations (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/recent_convs.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/recent_convs.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/recent_convs.dat' using 1:4 with linespoints ls 3 title 'convlog p99', \
     '/work/main/bench/results/plots/recent_convs.dat' using 1:5 with linespoints ls 4 title 'sqlite p99'

set output '/work/main/bench/results/plots/thread_walk.png'
set title '5b. thread walk of a forked conversation, root to tip (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/thread_walk.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/thread_walk.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/thread_walk.dat' using 1:4 with linespoints ls 3 title 'convlog p99', \
     '/work/main/bench/results/plots/thread_walk.dat' using 1:5 with linespoints ls 4 title 'sqlite p99'

set output '/work/main/bench/results/plots/open.png'
set title '6. open time (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/open.dat' using 1:2 with linespoints ls 1 title 'convlog first after the load', \
     '/work/main/bench/results/plots/open.dat' using 1:3 with linespoints ls 2 title 'sqlite first after the load', \
     '/work/main/bench/results/plots/open.dat' using 1:4 with linespoints ls 3 title 'convlog best of 5 after checkpoint', \
     '/work/main/bench/results/plots/open.dat' using 1:5 with linespoints ls 4 title 'sqlite best of 5 after checkpoint'

set output '/work/main/bench/results/plots/disk_size.png'
set title '7. disk size after checkpoint (MiB, lower is better)'
set ylabel 'MiB'
unset logscale y
set yrange [0:*]
plot '/work/main/bench/results/plots/disk_size.dat' using 1:2 with linespoints ls 1 title 'convlog', \
     '/work/main/bench/results/plots/disk_size.dat' using 1:3 with linespoints ls 2 title 'sqlite'

set output '/work/main/bench/results/plots/peak_rss.png'
set title '9. peak RSS of the engine''s process (MiB, lower is better)'
set ylabel 'MiB'
unset logscale y
set yrange [0:*]
plot '/work/main/bench/results/plots/peak_rss.dat' using 1:2 with linespoints ls 1 title 'convlog', \
     '/work/main/bench/results/plots/peak_rss.dat' using 1:3 with linespoints ls 2 title 'sqlite'

set output '/work/main/bench/results/plots/search_common.png'
set title '10. full-text search, common query, top 20 + snippets (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/search_common.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/search_common.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/search_common.dat' using 1:4 with linespoints ls 3 title 'convlog p95', \
     '/work/main/bench/results/plots/search_common.dat' using 1:5 with linespoints ls 4 title 'sqlite p95'

set output '/work/main/bench/results/plots/search_phrase.png'
set title '11. full-text search, phrase query, top 20 + snippets (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/search_phrase.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/search_phrase.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/search_phrase.dat' using 1:4 with linespoints ls 3 title 'convlog p95', \
     '/work/main/bench/results/plots/search_phrase.dat' using 1:5 with linespoints ls 4 title 'sqlite p95'

set output '/work/main/bench/results/plots/search_prefix.png'
set title '12. full-text search, prefix query, top 20 + snippets (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/search_prefix.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/search_prefix.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/search_prefix.dat' using 1:4 with linespoints ls 3 title 'convlog p95', \
     '/work/main/bench/results/plots/search_prefix.dat' using 1:5 with linespoints ls 4 title 'sqlite p95'

set output '/work/main/bench/results/plots/search_and.png'
set title '13. full-text search, and query, top 20 + snippets (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/search_and.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/search_and.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/search_and.dat' using 1:4 with linespoints ls 3 title 'convlog p95', \
     '/work/main/bench/results/plots/search_and.dat' using 1:5 with linespoints ls 4 title 'sqlite p95'

set output '/work/main/bench/results/plots/search_rare.png'
set title '14. full-text search, rare query, top 20 + snippets (us, lower is better)'
set ylabel 'us'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/search_rare.dat' using 1:2 with linespoints ls 1 title 'convlog p50', \
     '/work/main/bench/results/plots/search_rare.dat' using 1:3 with linespoints ls 2 title 'sqlite p50', \
     '/work/main/bench/results/plots/search_rare.dat' using 1:4 with linespoints ls 3 title 'convlog p95', \
     '/work/main/bench/results/plots/search_rare.dat' using 1:5 with linespoints ls 4 title 'sqlite p95'

set output '/work/main/bench/results/plots/compaction.png'
set title '16. compaction of the loaded store (convlog_compact / VACUUM) (ms, lower is better)'
set ylabel 'ms'
set logscale y 10
set yrange [*:*]
plot '/work/main/bench/results/plots/compaction.dat' using 1:2 with linespoints ls 1 title 'convlog', \
     '/work/main/bench/results/plots/compaction.dat' using 1:3 with linespoints ls 2 title 'sqlite'
