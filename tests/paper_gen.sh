#!/bin/sh
# paper_gen.sh - paper/gen turns results/<experiment>/table.csv into LaTeX:
# the numbers of a made-up table come out formatted in their columns, a
# missing experiment says "not run" (and gives no numbers), the OOD/ID ratio
# macro is the mean of the rows' ratios, figures are copied under safe names,
# LaTeX's special characters in values are escaped, several results folders
# are searched in order. Needs only sh and awk.
set -u
tmp=$(mktemp -d /tmp/vdit-paper-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 failed=0
check() { if "$@"; then pass=$((pass + 1)); else failed=$((failed + 1)); echo "FAIL: $*"; fi; }
has() { grep -qF -- "$2" "$1"; }

mkdir -p "$tmp/results/scale/figures" "$tmp/src/experiments"
cat >"$tmp/results/scale/table.csv" <<'CSV'
point,dit.model.size,dit.data.count,params,gflops_fwd,steps,batch,train_gflops,train_seconds,loss_last,id_split,id_vel_err,id_vel_err_lo,id_vel_err_hi,id_pos_err_x,id_pos_err_y,id_presence,id_copy_vel_err,id_linear_vel_err,id_vel_err_uniform,id_vel_err_parabola,id_vel_err_collision,id_vel_err_bounce,id_vel_err_occlusion,ood_split,ood_vel_err,ood_vel_err_lo,ood_vel_err_hi,ood_pos_err_x,ood_pos_err_y,ood_presence,ood_copy_vel_err,ood_linear_vel_err,ood_vel_err_uniform,ood_vel_err_parabola,ood_vel_err_collision,ood_vel_err_bounce,ood_vel_err_occlusion
size-VDiT-XS-2t2_count-300,VDiT-XS/2t2,300,1284000,0.24,1200,8,6912,400,0.31,id,1.2,0.9,1.5,0.5,0.4,0.98,2.5,0.3,1,1.1,1.3,1.2,NaN,ood-v,3.6,2.5,4.1,1,1,0.9,3,0.4,3,3,3,3,
size-VDiT-S-2t2_count-300,VDiT-S/2t2,300,4180448,0.76,1200,8,21888,1200,0.27,id,0.5,0.4,0.61,0.2,0.2,1,2.5,0.3,0.4,0.5,0.6,0.5,0.5,ood-v,2.5,2.1,2.9,1,1,0.9,3,0.4,2,2,2,3,3
CSV
printf 'fake figure' >"$tmp/results/scale/figures/vel_params.pdf"
printf '[experiment]\ndescription = Two sizes_of & 100%% tiny models\n' >"$tmp/src/experiments/scale.ini"
printf '[experiment]\ndescription = Full or st attention\n' >"$tmp/src/experiments/attention.ini"

"$SRCDIR/paper/gen" "$tmp/results" "$tmp/src" "$tmp/gen" >/dev/null 2>"$tmp/err"
check test $? -eq 0
g=$tmp/gen
for e in scale attention objective patch vae status macros; do check test -s "$g/$e.tex"; done
# the table: formatted values, interval, split, baselines, swept values escaped
check has "$g/scale.tex" '\texttt{VDiT-XS/2t2} & \texttt{300} & 1.28 & 6912 & 0.310 & 1.20 {\scriptsize[0.900, 1.50]} & 3.60 {\scriptsize[2.50, 4.10]} & 0.980 & 2.50 & 0.300 \\'
check has "$g/scale.tex" '\texttt{VDiT-S/2t2} & \texttt{300} & 4.18 & 21888 & 0.270 & 0.500 {\scriptsize[0.400, 0.610]}'
check has "$g/scale.tex" '\texttt{size-VDiT-XS-2t2\_count-300} & 1.00 & 1.10 & 1.30 & 1.20 & -- & 3.00'
check has "$g/scale.tex" 'Two sizes\_of \& 100\% tiny models'
# the figure, copied under a name without underscores
check test -f "$g/scale-vel-params.pdf"
check has "$g/scale.tex" '\includegraphics[width=0.7\linewidth]{generated/scale-vel-params.pdf}'
check has "$g/scale.tex" '{\footnotesize OOD split: \texttt{ood-v}.}'
# the macros: mean of 3.6/1.2 = 3 and 2.5/0.5 = 5 is 4.0; two runs; none elsewhere
check has "$g/macros.tex" '\newcommand{\scaleOODratio}{4.0}'
check has "$g/macros.tex" '\newcommand{\scaleRuns}{2}'
check has "$g/macros.tex" '\newcommand{\attentionOODratio}{--}'
check test "$(grep -c newcommand "$g/scale.tex")" -eq 0
# a missing experiment: a visible box, its planned setup, no table
check has "$g/attention.tex" 'Experiment \texttt{attention}: not run.'
check has "$g/attention.tex" 'make experiment NAME=attention'
check has "$g/attention.tex" 'Full or st attention'
check test "$(grep -c tabular "$g/attention.tex")" -eq 0
check has "$g/status.tex" '\texttt{scale} & 2 & from'
check has "$g/status.tex" '\textbf{not run}: \texttt{make experiment NAME=vae}'
# a header-only table counts as not run
mkdir -p "$tmp/results/patch" && head -1 "$tmp/results/scale/table.csv" >"$tmp/results/patch/table.csv"
"$SRCDIR/paper/gen" "$tmp/results" "$tmp/src" "$tmp/gen" >/dev/null 2>&1
check has "$g/patch.tex" 'not run'
# several results folders: each experiment from the first that has it
mkdir -p "$tmp/kept/vae" "$tmp/kept/scale"
cp "$tmp/results/scale/table.csv" "$tmp/kept/vae/table.csv"
head -2 "$tmp/results/scale/table.csv" >"$tmp/kept/scale/table.csv"
"$SRCDIR/paper/gen" "$tmp/results:$tmp/kept" "$tmp/src" "$tmp/gen" >/dev/null 2>&1
check has "$g/vae.tex" '\texttt{VDiT-S/2t2} & \texttt{300} & 4.18'
check has "$g/macros.tex" '\newcommand{\scaleRuns}{2}'
check has "$g/macros.tex" '\newcommand{\vaeRuns}{2}'
# a value holding commas is quoted in table.csv (RESULTS_FORMAT.md): one field
mkdir -p "$tmp/results/objective"
printf '%s\n' 'point,vae.enabled,dit.model.patch,params,gflops_fwd,steps,batch,train_gflops,train_seconds,loss_last,id_split,id_vel_err,id_vel_err_lo,id_vel_err_hi,id_pos_err_x,id_pos_err_y,id_presence,id_copy_vel_err,id_linear_vel_err' \
    'enabled-true_patch-2-2-2,true,"2,2,2",1284000,0.239,1200,16,13766.4,817.4,0.27732,id,2.2522,1.79705,2.7683,1.1177,0.444293,0.7847,2.43539,1.02388' \
    >"$tmp/results/objective/table.csv"
"$SRCDIR/paper/gen" "$tmp/results" "$tmp/src" "$tmp/gen" >/dev/null 2>&1
check has "$g/objective.tex" '\texttt{true} & \texttt{2,2,2} & 1.28 & 13766 & 0.277 & 2.25 {\scriptsize[1.80, 2.77]} & -- & 0.785 & 2.44 & 1.02 \\'
check has "$g/objective.tex" '\texttt{enabled} & \texttt{patch} & params (M)'
# bad usage
"$SRCDIR/paper/gen" >/dev/null 2>&1
check test $? -ne 0

echo "paper_gen: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
