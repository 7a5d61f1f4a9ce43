# cpu.sh: the bench scripts' count of a process's CPU time (sourced).

# CPU seconds (user and system) the processes "$@" have used so far.
CLK_TCK=$(getconf CLK_TCK)
cpu_seconds() {
	local p ticks=0
	local -a f
	for p in "$@"; do
		# The fields after the command name: utime and stime are the
		# 12th and 13th (proc(5)'s 14 and 15).
		read -r -a f < <(sed 's/^.*) //' "/proc/$p/stat")
		ticks=$((ticks + f[11] + f[12]))
	done
	python3 -c "print($ticks / $CLK_TCK)"
}
