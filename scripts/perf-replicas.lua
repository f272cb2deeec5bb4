-- perf-replicas.lua: wrk's requests for scripts/perf-replicas.sh, spread at
-- random over a set of webhooks so that no row lock serialises the load.
--
--   wrk ... -s scripts/perf-replicas.lua http://HOST:PORT -- OP IDS_FILE SEED
--
-- OP is toggle (PATCH /v3/webhooks/{id}/toggle-status with body {}, which
-- flips is_active) or get (GET /v3/webhooks/{id}); IDS_FILE holds one
-- webhook id a line, all of the demo fixture's Acme organization (key
-- sk_test_acme_org); SEED seeds the choice of webhook, so that the wrk
-- processes of one round, one per replica, do not walk the same sequence.
--
-- Every request is formatted once, in init: request() only picks one, so
-- the load generator spends no more per request than with a fixed one. No
-- response() is defined (it would make wrk hand every answer to Lua); wrk
-- counts answers of 400 and above itself ("Non-2xx or 3xx responses"), and
-- the shell script also checks each replica's /metrics for any answer that
-- was not 2xx.

local requests = {}

function init(args)
  local op, ids, seed = args[1], args[2], tonumber(args[3] or "1")
  if op ~= "toggle" and op ~= "get" then
    error("perf-replicas.lua: OP must be toggle or get, not " .. tostring(op))
  end
  if ids == nil then
    error("perf-replicas.lua: no IDS_FILE argument")
  end
  for id in io.lines(ids) do
    if id ~= "" then
      -- wrk.format adds Host and Content-Length to the table it is given:
      -- a fresh one each time.
      if op == "toggle" then
        requests[#requests + 1] = wrk.format("PATCH", "/v3/webhooks/" .. id .. "/toggle-status",
          { ["x-api-key"] = "sk_test_acme_org", ["Content-Type"] = "application/json" }, "{}")
      else
        requests[#requests + 1] = wrk.format("GET", "/v3/webhooks/" .. id,
          { ["x-api-key"] = "sk_test_acme_org" }, nil)
      end
    end
  end
  if #requests == 0 then
    error("perf-replicas.lua: no webhook id in " .. ids)
  end
  math.randomseed(seed)
end

function request()
  return requests[math.random(#requests)]
end
