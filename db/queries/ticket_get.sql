SELECT ref, system, status, kind FROM tickets WHERE ref = $1
