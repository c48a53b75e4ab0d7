package transport

// admission counts open connections, in total and per client IP, against the
// configured limits (0: no limit). It is guarded by the server's mu.
type admission struct {
	maxTotal int
	maxPerIP int
	total    int
	perIP    map[string]int
}

func newAdmission(maxTotal, maxPerIP int) *admission {
	return &admission{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: make(map[string]int)}
}

// admit takes a slot for ip, or returns the name of the limit that refuses it.
func (a *admission) admit(ip string) (refusedBy string) {
	if a.maxTotal > 0 && a.total >= a.maxTotal {
		return "max_conns"
	}
	if a.maxPerIP > 0 && a.perIP[ip] >= a.maxPerIP {
		return "max_conns_per_ip"
	}
	a.total++
	a.perIP[ip]++
	return ""
}

// release gives back a slot admit took for ip.
func (a *admission) release(ip string) {
	a.total--
	if n := a.perIP[ip] - 1; n > 0 {
		a.perIP[ip] = n
	} else {
		delete(a.perIP, ip)
	}
}
