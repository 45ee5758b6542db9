if (!exists("fmt")) fmt = "png"
if (fmt eq "pdf") { set terminal pdfcairo size 5in,3.4in font ",9" noenhanced } else { set terminal pngcairo size 900,600 noenhanced }
set output "vel_runs." . fmt
set title "recipe2: velocity error per run"
set ylabel "velocity error, world units/s (mean, 95% interval)"; set grid y
set xtics rotate by -30 left; set xrange [-0.5:4-0.5]; set key outside right; set bmargin 8
plot "vel_runs.dat" using ($1 - 0.1):3:4:5:xticlabels(2) with yerrorbars pt 7 lw 2 title "ID", \
     "vel_runs.dat" using ($1 + 0.1):6:7:8 with yerrorbars pt 5 lw 2 title "OOD (ood-v)", \
     "vel_runs.dat" using 1:9 with linespoints dt 3 pt 1 lc 1 title "copy-last, ID", \
     "vel_runs.dat" using 1:10 with linespoints dt 3 pt 1 lc 2 title "copy-last, OOD", \
     "vel_runs.dat" using 1:11 with linespoints dt 4 pt 2 lc rgb "black" title "linear, ID", \
     "vel_runs.dat" using 1:12 with linespoints dt 5 pt 2 lc rgb "gray40" title "linear, OOD"
