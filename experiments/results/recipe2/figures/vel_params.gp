if (!exists("fmt")) fmt = "png"
if (fmt eq "pdf") { set terminal pdfcairo size 5in,3.4in font ",9" noenhanced } else { set terminal pngcairo size 900,600 noenhanced }
set output "vel_params." . fmt
set title "recipe2: velocity error against parameters"
set xlabel "parameters"; set ylabel "velocity error, world units/s (mean, 95% interval)"
set logscale x; set grid; set key outside right; set offsets graph 0.05, graph 0.05, 0, 0
groups = "all "
plot for [i = 1:words(groups)] "vel.dat" index i - 1 using 2:4:5:6 with yerrorlines lw 2 dt 1 lc i title "ID, " . word(groups, i), \
     for [i = 1:words(groups)] "vel.dat" index i - 1 using 2:7:8:9 with yerrorlines lw 2 dt 2 lc i title "OOD (ood-v), " . word(groups, i), 0.125314 with lines lw 1 dt 4 lc rgb "black" title "linear, ID", 0.121855 with lines lw 1 dt 5 lc rgb "gray40" title "linear, OOD"
