-- Refresh under load: ddb.processor with 8 workers against instance-metadata
-- credentials that expire every 2 s (DDBRUN_CREDS_EXPIRY), until the stand-in
-- has issued 4 sets: its log must show no request signed with expired
-- credentials, at most one refresh in flight, and no record may fail.
-- `make creds-soak` runs the same for DDBRUN_CREDS_SOAK_SECONDS (20) with 4 s credentials.
-- Also: a failed refresh keeps the still-valid credentials; a skewed clock is corrected.
local cs = require("credserver")
local helper = require("helper")

local SOAK = tonumber(os.getenv("DDBRUN_CREDS_SOAK_SECONDS") or "0")
local EXPIRY = tonumber(os.getenv("DDBRUN_CREDS_EXPIRY") or "2")

local imds_env = cs.imds_env

-- Each record's callback calls DynamoDB until the stand-in has issued its
-- share of the target count of credential sets (or, soaking, until its share
-- of the soak time has passed).
local LOAD = [[
local ddb = require("ddb")
local tables = require("ddb.tables")
local stats_path, n = os.getenv("CS_STATS"), tonumber(os.getenv("CS_RECORDS"))
local soak, target = tonumber(os.getenv("CS_SOAK_SECONDS")), tonumber(os.getenv("CS_TARGET_ISSUED"))
local client = ddb.client()
local name = string.format("Records_refresh_%d_%d", os.time(), math.random(1, 1e6))
tables.ensure(client, tables.records(name, "Processed"))
local items = {}
for i = 1, n do
  items[i] = { AccountId = string.format("acct-%03d", i % 50), RunTime = os.date("!%Y-%m-%dT%H:%M:%SZ", 1767225600 + i),
               Processed = 0, i = i }
end
client:put_all(name, items)
local start = os.time()
local p = ddb.processor { table = name, index = "Processed", max_workers = 8, progress = false, summary = false }
local errors, result = p:process_all(function(record, ctx)
  local function issued()
    local f = io.open(stats_path)
    if not f then return 0 end
    local text = f:read("a")
    f:close()
    return tonumber(text:match("\nissued (%d+)")) or 0
  end
  while true do
    if soak > 0 then
      if os.time() >= start + soak * record.i / n then break end
    elseif issued() >= 1 + math.ceil((target - 1) * record.i / n) then
      break
    end
    ctx.client:get_item { TableName = name, Key = { AccountId = record.AccountId, RunTime = record.RunTime } }
  end
end)
for _, e in ipairs(errors) do io.stderr:write(tostring(e.error or e.message or e), "\n") end
print(string.format("processed=%d failed=%d errors=%d seconds=%d", result.processed, result.failed, #errors, os.time() - start))
]]

describe("credential refresh", function()
  it(string.format("under load: 8 workers, %d s credentials, no request signed with expired ones, one refresh at a time", EXPIRY), function()
    local server = cs.start(string.format("--expiry %d --issue-delay-ms 200", EXPIRY))
    local records = 40
    local out, err, code = cs.run(LOAD, imds_env(server, { CS_STATS = server.dir .. "/stats", CS_RECORDS = tostring(records),
      CS_SOAK_SECONDS = tostring(SOAK), CS_TARGET_ISSUED = "4" }))
    local stats = server.stop()
    io.stderr:write(string.format("\n[credential refresh] %s  issued=%d ddb_requests=%d ddb_ok=%d max_inflight=%d "
      .. "expired_signing=%d expired_received=%d refresh_failures=%d\n", (out or ""):gsub("\n", ""), stats.issued,
      stats.ddb_requests, stats.ddb_ok, stats.max_inflight, stats.ddb_expired_signing, stats.ddb_expired_received,
      stats.refresh_failures))
    assert.are.equal(0, code, err)
    assert.truthy(out:find(string.format("processed=%d failed=0 errors=0", records), 1, true), out)
    assert.is_true(stats.issued >= 4)
    assert.are.equal(1, stats.max_inflight)
    assert.are.equal(0, stats.ddb_expired_signing)
    assert.are.equal(0, stats.ddb_unknown_key + stats.ddb_bad_signature + stats.ddb_bad_token)
    assert.are.equal(stats.ddb_requests, stats.ddb_ok)
    assert.are.equal(stats.issued, stats.keys_used)   -- every set issued was used
    if SOAK > 0 then assert.is_true(tonumber(out:match("seconds=(%d+)")) >= SOAK) end
  end)

  it("keeps the still-valid credentials when a refresh fails, then names the source when none are left", function()
    local server = cs.start("--expiry 8 --issue-delay-ms 0 --fail imds-401 --fail-after 1")
    local script = string.format([[
      local c = require("ddb").client()
      local stats_path = %q
      local function failures()
        local f = io.open(stats_path) local t = f:read("a") f:close()
        return tonumber(t:match("refresh_failures (%%d+)"))
      end
      local after_failure = 0
      while true do
        local seen = failures()
        local ok, e = pcall(c.list_tables, c, {})
        if not ok then print(tostring(e)) break end
        if seen > 0 then after_failure = after_failure + 1 end
      end
      print(after_failure > 0 and "signed after a failed refresh" or "no call between the failure and the expiry")
    ]], server.dir .. "/stats")
    local out, err, code = cs.run(script, imds_env(server))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("CredentialsError: instance metadata: role ddbrun-role: HTTP 401\nsigned after a failed refresh\n", out)
    assert.are.equal(1, stats.issued)
    assert.is_true(stats.refresh_failures >= 2)
    assert.are.equal(0, stats.ddb_expired_signing)
    assert.are.equal(stats.ddb_requests, stats.ddb_ok)
  end)

  it("corrects a skewed clock from the answer's Date and retries once", function()
    local server = cs.start("--clock-offset 3600 --static AKIDSKEW1:skewsecret1")
    local out, err, code = cs.run(cs.CALLS, cs.env(server, { AWS_ACCESS_KEY_ID = "AKIDSKEW1", AWS_SECRET_ACCESS_KEY = "skewsecret1" }))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("environment|never\n", out)
    assert.are.equal(1, stats.ddb_skew_rejected)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("signs AssumeRole with the corrected clock: learnt from STS's own answer, kept for DynamoDB and the refreshes", function()
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/credentials", "[base]\naws_access_key_id = AKIDSKEW2\naws_secret_access_key = skewsecret2\n")
    helper.write_file(dir .. "/config", "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/skewed\nsource_profile = base\n")
    local server = cs.start("--clock-offset 3600 --expiry 4 --static AKIDSKEW2:skewsecret2")
    local out, err, code = cs.run(cs.UNTIL_REFRESHED, cs.env(server, { AWS_CONFIG_FILE = dir .. "/config",
      AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials", AWS_PROFILE = "r", AWS_ENDPOINT_URL_STS = server.endpoint }))
    local stats = server.stop()
    os.execute("rm -rf " .. helper.shell_quote(dir))
    assert.are.equal(0, code, err)
    assert.are.equal("refreshed\n", out)
    assert.are.equal(1, stats.sts_skew_rejected)   -- the first AssumeRole only; then the offset is known
    assert.is_true(stats.issued_sts >= 2)
    assert.are.equal(0, stats.sts_bad_signature)
    assert.are.equal(0, stats.ddb_skew_rejected)
    assert.are.equal(stats.ddb_requests, stats.ddb_ok)
  end)
end)
