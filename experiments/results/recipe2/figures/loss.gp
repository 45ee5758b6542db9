if (!exists("fmt")) fmt = "png"
if (fmt eq "pdf") { set terminal pdfcairo size 5in,3.4in font ",9" noenhanced } else { set terminal pngcairo size 900,600 noenhanced }
set output "loss." . fmt
set title "recipe2: DiT training loss"
set xlabel "step"; set ylabel "loss (per element)"; set logscale y; set grid
set key outside right
runs = "v4000 v1000 v1000-ctx2 v1000-ctx3"
plot for [i = 1:words(runs)] "loss.dat" index i - 1 using 1:2 with lines title word(runs, i)
