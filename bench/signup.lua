-- wrk script for P1/P2: POST distinct, valid sign-ups with keep-alive.
-- Each wrk thread numbers its own requests; phones are +1 TTT NNNNNNN with
-- the thread number, so no two requests share a phone number.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local body = string.format('{"phoneNumber":"+1%03d%07d"}', tid, counter)
  return wrk.format("POST", "/signup/passwordless/sms",
                    {["Content-Type"] = "application/json"}, body)
end


function done(summary, latency, requests)
  io.write(string.format("P50_US %d\nP99_US %d\nREQUESTS %d\nERRORS %d\n",
    latency:percentile(50), latency:percentile(99), summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
