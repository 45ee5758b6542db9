# bench_dit.gp - time per step against tokens, vdit and PyTorch, full and st
# attention, training step and guided sampler step (issue 8).
#   gnuplot -e "dat='bench.dat'; png='bench.png'" tests/bench/bench_dit.gp
# bench.dat rows: config attention pass tokens vdit_ms torch_ms
set terminal pngcairo size 1100,460 font ",10"
set output png
set multiplot layout 1,2 title "vdit against PyTorch 1.13, same model and threads (median ms per step; configs tiny 128, small 256, base 1024 tokens)"
set logscale xy
set xrange [90:1400]
set xtics (128, 256, 512, 1024)
set xlabel "tokens per video"
set ylabel "ms per step"
set grid
set key top left
sel(p, a) = sprintf("< awk '$3 == \"%s\" && $2 == \"%s\"' %s", p, a, dat)
do for [p in "train sample"] {
    set title (p eq "train" ? "training step (forward, backward, AdamW)" : "sampler step (CFG: a batch of 2)")
    plot sel(p, "full") using 4:5 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "vdit, full", \
         sel(p, "full") using 4:6 with linespoints lw 2 pt 6 dt 2 lc rgb "#1f77b4" title "PyTorch, full", \
         sel(p, "st") using 4:5 with linespoints lw 2 pt 5 lc rgb "#d62728" title "vdit, st", \
         sel(p, "st") using 4:6 with linespoints lw 2 pt 4 dt 2 lc rgb "#d62728" title "PyTorch, st"
}
unset multiplot
