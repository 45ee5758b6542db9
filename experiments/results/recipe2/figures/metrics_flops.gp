if (!exists("fmt")) fmt = "png"
if (fmt eq "pdf") { set terminal pdfcairo size 5in,7in font ",9" noenhanced } else { set terminal pngcairo size 900,1200 noenhanced }
set output "metrics_flops." . fmt
set multiplot layout 3,1 title "recipe2: benchmark metrics against training GFLOPs (ID solid, OOD (ood-v) dashed)"
set logscale x; set grid; set key outside right; set offsets graph 0.05, graph 0.05, 0, 0
groups = "all "
set ylabel "velocity error, world/s"
plot for [i = 1:words(groups)] "metrics.dat" index i - 1 using 3:4:5:6 with yerrorlines lw 2 dt 1 lc i title "ID, " . word(groups, i),      for [i = 1:words(groups)] "metrics.dat" index i - 1 using 3:7:8:9 with yerrorlines lw 2 dt 2 lc i title "OOD, " . word(groups, i), 0.125314 with lines lw 1 dt 4 lc rgb "black" title "linear, ID", 0.121855 with lines lw 1 dt 5 lc rgb "gray40" title "linear, OOD"
set ylabel "position error, world"
plot for [i = 1:words(groups)] "metrics.dat" index i - 1 using 3:10:11:12 with yerrorlines lw 2 dt 1 lc i title "ID, " . word(groups, i),      for [i = 1:words(groups)] "metrics.dat" index i - 1 using 3:13:14:15 with yerrorlines lw 2 dt 2 lc i title "OOD, " . word(groups, i)
set ylabel "ball present, fraction"; set xlabel "training GFLOPs"
plot for [i = 1:words(groups)] "metrics.dat" index i - 1 using 3:16:17:18 with yerrorlines lw 2 dt 1 lc i title "ID, " . word(groups, i),      for [i = 1:words(groups)] "metrics.dat" index i - 1 using 3:19:20:21 with yerrorlines lw 2 dt 2 lc i title "OOD, " . word(groups, i)
unset multiplot
