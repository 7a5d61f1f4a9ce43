-- wrk-load.lua: the one wrk script of bench/compare-etcd.sh, so that etcd and
-- escrow get the same load generator with the same request shapes.
--
--   wrk -t T -c C -d S -s bench/wrk-load.lua URL -- OP RUN SEEDED
--
-- OP      etcd-put     POST /v3/kv/put, a new key per request, ~300-byte body
--         etcd-range   POST /v3/kv/range of a seeded key (linearizable)
--         escrow-put   POST /v1/keys, a new key ID per request, ~300-byte body
--         escrow-get   GET /v1/keys/{key_id}?reason=... of a seeded key
-- RUN     a number unique to this wrk run (part of every new key)
-- SEEDED  how many keys were seeded before (bench/compare_tool.py seed): the
--         reads pick one of them at random
--
-- Keys are unique per request: run, thread and a per-thread counter. At the
-- end one line "RESULT {json}" gives requests, errors, duration and latency
-- percentiles (microseconds) for compare_tool.py to parse.

local op, run, seeded
local counter = 0
local next_tid = 0
local threads = {}

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local c1 = math.floor(n / 262144) % 64
		local c2 = math.floor(n / 4096) % 64
		local c3 = math.floor(n / 64) % 64
		local c4 = n % 64
		out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1) ..
			(b and b64chars:sub(c3 + 1, c3 + 1) or "=") ..
			(c and b64chars:sub(c4 + 1, c4 + 1) or "=")
	end
	return table.concat(out)
end

-- The key ID of seeded key i (compare_tool.py seed makes the same ones).
local function seeded_key_id(i)
	return string.format("5EED0000-0000-4000-8000-%012X", i)
end

function setup(thread)
	next_tid = next_tid + 1
	thread:set("tid", next_tid)
	threads[#threads + 1] = thread
end

local value_b64, user

function init(args)
	op, run, seeded = args[1], tonumber(args[2]), tonumber(args[3]) or 0
	if op ~= "etcd-put" and op ~= "etcd-range" and op ~= "escrow-put" and op ~= "escrow-get" then
		error("wrk-load.lua: unknown operation " .. tostring(op))
	end
	if run == nil then
		error("wrk-load.lua: no run number")
	end
	if (op == "etcd-range" or op == "escrow-get") and seeded < 1 then
		error("wrk-load.lua: " .. op .. " needs seeded keys")
	end
	math.randomseed(run * 1000 + tid)
	-- etcd's value: 180 bytes, 240 in base64, so that the body is ~300 bytes
	-- like escrow's.
	value_b64 = base64(string.rep("v", 180))
	user = string.format("CORP\\\\bench-user-%03d", tid)
end

local function escrow_body(n)
	local pw = {}
	for j = 1, 8 do
		pw[j] = string.format("%06d", ((n * 8 + j + tid * 7919) % 65536) * 11)
	end
	local key_id = string.format("%08X-%04X-4%03X-8000-%012X", run, run % 65536, tid, n)
	return string.format('{"key_id":"%s","recovery_password":"%s",' ..
		'"volume_id":"\\\\\\\\?\\\\Volume{%s}\\\\","volume_type":"os",' ..
		'"machine":"wrk-%d-%d.bench.example","user":"%s"}',
		key_id, table.concat(pw, "-"), key_id, run, tid, user)
end

function request()
	counter = counter + 1
	if op == "etcd-put" then
		local key = base64(string.format("bench/%d/%d/%d", run, tid, counter))
		return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" },
			'{"key":"' .. key .. '","value":"' .. value_b64 .. '"}')
	elseif op == "etcd-range" then
		local key = base64(string.format("bench/seed/%d", math.random(0, seeded - 1)))
		return wrk.format("POST", "/v3/kv/range", { ["Content-Type"] = "application/json" },
			'{"key":"' .. key .. '"}')
	elseif op == "escrow-put" then
		return wrk.format("POST", "/v1/keys", { ["Content-Type"] = "application/json" },
			escrow_body(counter))
	else
		return wrk.format("GET", "/v1/keys/" .. seeded_key_id(math.random(0, seeded - 1)) ..
			"?reason=lost_pin&note=bench", nil, nil)
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,' ..
		'"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
		'"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"threads":%d}\n',
		summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
		latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
		#threads))
end
