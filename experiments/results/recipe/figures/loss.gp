if (!exists("fmt")) fmt = "png"
if (fmt eq "pdf") { set terminal pdfcairo size 5in,3.4in font ",9" noenhanced } else { set terminal pngcairo size 900,600 noenhanced }
set output "loss." . fmt
set title "recipe: DiT training loss"
set xlabel "step"; set ylabel "loss (per element)"; set logscale y; set grid
set key outside right
runs = "steps3000 base tp1 S batch32 lr2e-3 lr5e-4 logitnormal no-ema ctx-always vae-b16 guide-ctx2 guide-ctx4"
plot for [i = 1:words(runs)] "loss.dat" index i - 1 using 1:2 with lines title word(runs, i)
