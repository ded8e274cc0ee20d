-- Profiles from AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE: static keys,
-- assume-role chains (SigV4 checked by tests/tools/credserver acting as STS),
-- credential_source, web identity, credential_process; and the bad input.
local helper = require("helper")
local cs = require("credserver")

local ROLE_A = "arn:aws:iam::123456789012:role/role-a"
local ROLE_B = "arn:aws:iam::123456789012:role/role-b"

describe("credentials from a profile", function()
  local dir, config, credentials
  before_each(function()
    dir = helper.tmpdir()
    config, credentials = dir .. "/config", dir .. "/credentials"
    helper.write_file(config, "")
    helper.write_file(credentials, "")
  end)
  after_each(function() os.execute("rm -rf " .. helper.shell_quote(dir)) end)

  local function profile_env(server, profile, extra)
    return cs.env(server, { AWS_CONFIG_FILE = config, AWS_SHARED_CREDENTIALS_FILE = credentials, AWS_PROFILE = profile,
      AWS_ENDPOINT_URL_STS = server and server.endpoint }, extra)
  end

  it("uses a profile's static keys", function()
    local server = cs.start("--static AKIDPROFILE1:profilesecret1")
    helper.write_file(credentials, "[dev]\naws_access_key_id = AKIDPROFILE1\naws_secret_access_key = profilesecret1\n")
    local out, err, code = cs.run(cs.CALLS, profile_env(server, "dev"))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("profile dev|never\n", out)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("assumes roles along a source_profile chain, each AssumeRole signed with the previous credentials", function()
    local server = cs.start("--expiry 3600 --static AKIDBASE1:basesecret1")
    helper.write_file(credentials, "[base]\naws_access_key_id = AKIDBASE1\naws_secret_access_key = basesecret1\n")
    helper.write_file(config, table.concat({
      "[profile mid]", "role_arn = " .. ROLE_A, "source_profile = base", "",
      "[profile top]", "role_arn = " .. ROLE_B, "source_profile = mid", "external_id = ext-42",
      "role_session_name = nightly-job", "duration_seconds = 900", "region = eu-west-1", "" }, "\n"))
    local out, err, code = cs.run(cs.CALLS, profile_env(server, "top"))
    local stats, log = server.stop(), server.log()
    assert.are.equal(0, code, err)
    assert.are.equal("assume-role " .. ROLE_B .. " via profile top|expires\n", out)
    assert.are.equal(2, stats.issued_sts)
    assert.are.equal(0, stats.sts_bad_signature)
    local function lit(s) return (s:gsub("%p", "%%%0")) end
    assert.truthy(log:find("sts AssumeRole role=" .. lit(ROLE_A) .. " session=ddbrun%-%d+ external_id= duration= region=us%-east%-1 source=AKIDBASE1 signature=ok"), log)
    assert.truthy(log:find("sts AssumeRole role=" .. lit(ROLE_B) .. " session=nightly%-job external_id=ext%-42 duration=900 region=us%-east%-1 source=ASIA%w+ signature=ok"), log)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("assumes a role with credential_source = Ec2InstanceMetadata", function()
    local server = cs.start("--expiry 3600")
    helper.write_file(config, "[profile ec2]\nrole_arn = " .. ROLE_A .. "\ncredential_source = Ec2InstanceMetadata\n")
    local out, err, code = cs.run(cs.CALLS, profile_env(server, "ec2", { AWS_EC2_METADATA_DISABLED = false,
      AWS_EC2_METADATA_SERVICE_ENDPOINT = server.endpoint }))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("assume-role " .. ROLE_A .. " via profile ec2|expires\n", out)
    assert.are.equal(1, stats.issued_imds)
    assert.are.equal(1, stats.issued_sts)
    assert.are.equal(0, stats.sts_bad_signature)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("assumes a role with credential_source = Environment (AWS_PROFILE set: the keys are the source, not the credentials)", function()
    local server = cs.start("--expiry 3600 --static AKIDENV1:envsecret1")
    helper.write_file(config, "[profile envrole]\nrole_arn = " .. ROLE_A .. "\ncredential_source = Environment\n")
    local out, err, code = cs.run(cs.CALLS, profile_env(server, "envrole", { AWS_ACCESS_KEY_ID = "AKIDENV1", AWS_SECRET_ACCESS_KEY = "envsecret1" }))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("assume-role " .. ROLE_A .. " via profile envrole|expires\n", out)
    assert.are.equal(1, stats.issued_sts)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("uses web_identity_token_file with role_arn", function()
    local server = cs.start("--expiry 3600 --web-token tok.en")
    helper.write_file(dir .. "/token", "tok.en")
    helper.write_file(config, "[profile irsa]\nrole_arn = " .. ROLE_A .. "\nweb_identity_token_file = " .. dir .. "/token\n")
    local out, err, code = cs.run(cs.CALLS, profile_env(server, "irsa"))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("web identity " .. ROLE_A .. "|expires\n", out)
    assert.are.equal(1, stats.issued_web_identity)
    assert.are.equal(3, stats.ddb_ok)
  end)

  it("runs credential_process and uses what it prints", function()
    local server = cs.start("--static AKIDPROC1:procsecret1")
    helper.write_file(dir .. "/creds.sh", [[printf '{"Version": 1, "AccessKeyId": "AKIDPROC1", "SecretAccessKey": "procsecret1", "Expiration": "2099-01-01T00:00:00Z"}']])
    helper.write_file(config, "[profile sso]\ncredential_process = sh " .. dir .. "/creds.sh\n")
    local out, err, code = cs.run(cs.CALLS, profile_env(server, "sso"))
    local stats = server.stop()
    assert.are.equal(0, code, err)
    assert.are.equal("process|expires\n", out)
    assert.are.equal(3, stats.ddb_ok)
  end)

  for _, case in ipairs {
    { "exits non-zero", "echo SECRETOUTPUT; exit 3", "exited with status 3" },
    { "prints something that is not JSON", "echo SECRETOUTPUT", "its output is not a JSON object" },
    { "prints JSON without keys", [[echo '{"Version": 1, "SecretAccessKey": "SECRETOUTPUT"}']], "its output is not usable: the answer has no AccessKeyId" },
    { "prints JSON without Version 1", [[echo '{"AccessKeyId": "SECRETOUTPUT", "SecretAccessKey": "x"}']], [[its output has no "Version": 1]] },
  } do
    it("names the command, never its output, when credential_process " .. case[1], function()
      helper.write_file(dir .. "/creds.sh", case[2])
      helper.write_file(config, "[profile sso]\ncredential_process = sh " .. dir .. "/creds.sh\n")
      local out, err, code = cs.run(cs.CALLS, profile_env(nil, "sso"))
      assert.are_not.equal(0, code)
      assert.are.equal("CredentialsError: profile sso: credential_process `sh " .. dir .. "/creds.sh`: " .. case[3], cs.error_line(err))
      assert.is_nil((out .. err):find("SECRETOUTPUT", 1, true))
    end)
  end

  it("kills a credential_process that does not finish within DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S, naming the command", function()
    helper.write_file(dir .. "/creds.sh", "echo SECRETOUTPUT; exec sleep 600")
    helper.write_file(config, "[profile sso]\ncredential_process = sh " .. dir .. "/creds.sh\n")
    local out, err, code = cs.run(cs.CALLS, profile_env(nil, "sso", { DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S = "1" }))
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: profile sso: credential_process `sh " .. dir .. "/creds.sh`: timed out after 1 s",
      cs.error_line(err))
    assert.is_nil((out .. err):find("SECRETOUTPUT", 1, true))
  end)

  it("names DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S when it is not a number of seconds", function()
    helper.write_file(config, "[profile sso]\ncredential_process = true\n")
    local _, err, code = cs.run(cs.CALLS, profile_env(nil, "sso", { DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S = "soon" }))
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: DDBRUN_CREDENTIAL_PROCESS_TIMEOUT_S must be a whole number from 1 to 3600, not 'soon'",
      cs.error_line(err))
  end)

  it("names the file and line of a duration_seconds outside 900 to 43200", function()
    helper.write_file(credentials, "[base]\naws_access_key_id = AKIDBASE1\naws_secret_access_key = basesecret1\n")
    helper.write_file(config, table.concat({ "[profile short]", "role_arn = " .. ROLE_A, "source_profile = base",
      "duration_seconds = 60", "" }, "\n"))
    local _, err, code = cs.run(cs.CALLS, profile_env(nil, "short"))
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: " .. config .. ":4: duration_seconds must be a whole number from 900 to 43200, not '60'",
      cs.error_line(err))
  end)

  it("refuses a source_profile loop, naming the file, line and the loop", function()
    helper.write_file(config, table.concat({ "[profile a]", "role_arn = " .. ROLE_A, "source_profile = b", "",
      "[profile b]", "role_arn = " .. ROLE_B, "source_profile = a", "" }, "\n"))
    local _, err, code = cs.run(cs.CALLS, profile_env(nil, "a"))
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: " .. config .. ":7: source_profile loop: a -> b -> a", cs.error_line(err))
  end)

  it("names a profile that does not exist", function()
    local _, err, code = cs.run(cs.CALLS, profile_env(nil, "nope"))
    assert.are_not.equal(0, code)
    assert.are.equal(string.format("CredentialsError: profile nope (AWS_PROFILE): not found in %s or %s", config, credentials),
      cs.error_line(err))
  end)

  it("names the file and line of a malformed line", function()
    helper.write_file(config, "[profile dev]\nregion = eu-west-1\nthis line has no equals sign\n")
    local _, err, code = cs.run(cs.CALLS, profile_env(nil, "dev"))
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: " .. config .. ":3: expected 'key = value'", cs.error_line(err))
  end)

  it("shows the Code and Message of an STS error for assume-role", function()
    local server = cs.start("--fail sts-error --static AKIDBASE1:basesecret1")
    helper.write_file(credentials, "[base]\naws_access_key_id = AKIDBASE1\naws_secret_access_key = basesecret1\n")
    helper.write_file(config, "[profile r]\nrole_arn = " .. ROLE_A .. "\nsource_profile = base\n")
    local _, err, code = cs.run(cs.CALLS, profile_env(server, "r"))
    server.stop()
    assert.are_not.equal(0, code)
    assert.are.equal("CredentialsError: assume-role " .. ROLE_A .. " via profile r: STS AccessDenied: User: "
      .. "arn:aws:iam::123456789012:user/ddbrun is not authorized to perform: sts:AssumeRole (HTTP 403)", cs.error_line(err))
  end)

  it("takes the region from the profile when AWS_REGION and AWS_DEFAULT_REGION are unset", function()
    helper.write_file(config, "[profile dev]\nregion = eu-west-3\naws_access_key_id = x\naws_secret_access_key = y\n")
    local out, err, code = cs.run("local c = require('ddb').client() print(c:info().region)",
      profile_env(nil, "dev", { AWS_REGION = false, AWS_DEFAULT_REGION = false }))
    assert.are.equal(0, code, err)
    assert.are.equal("eu-west-3\n", out)
  end)

  local ENDPOINT = "local c = require('ddb').client() print(c:info().endpoint)"

  it("takes use_fips_endpoint and use_dualstack_endpoint from the profile, the environment winning", function()
    helper.write_file(config, "[profile gov]\nregion = us-west-2\nuse_fips_endpoint = true\nuse_dualstack_endpoint = true\n"
      .. "aws_access_key_id = x\naws_secret_access_key = y\n")
    local base = { AWS_REGION = false, AWS_ENDPOINT_URL_DYNAMODB = false }
    local out, err, code = cs.run(ENDPOINT, profile_env(nil, "gov", base))
    assert.are.equal(0, code, err)
    assert.are.equal("https://dynamodb-fips.us-west-2.api.aws\n", out)
    base.AWS_USE_FIPS_ENDPOINT, base.AWS_USE_DUALSTACK_ENDPOINT = "false", "false"
    out, err, code = cs.run(ENDPOINT, profile_env(nil, "gov", base))
    assert.are.equal(0, code, err)
    assert.are.equal("https://dynamodb.us-west-2.amazonaws.com\n", out)
  end)

  it("names the profile setting when use_fips_endpoint is not true or false", function()
    helper.write_file(config, "[profile gov]\nuse_fips_endpoint = yes\naws_access_key_id = x\naws_secret_access_key = y\n")
    local _, err, code = cs.run(ENDPOINT, profile_env(nil, "gov", { AWS_ENDPOINT_URL_DYNAMODB = false }))
    assert.are_not.equal(0, code)
    assert.are.equal("ddb.client: the profile's use_fips_endpoint must be true or false, not 'yes'", cs.error_line(err))
  end)

  it("assumes the role in the region given to ddb.client{}: one credential cache per region", function()
    local server = cs.start("--expiry 3600 --static AKIDBASE1:basesecret1")
    helper.write_file(credentials, "[base]\naws_access_key_id = AKIDBASE1\naws_secret_access_key = basesecret1\n")
    helper.write_file(config, "[profile r]\nrole_arn = " .. ROLE_A .. "\nsource_profile = base\n")
    local out, err, code = cs.run([[
local ddb = require("ddb")
local eu = ddb.client{region = "eu-west-1"}
eu:list_tables{}
local default = ddb.client()
default:list_tables{}
local eu_again = ddb.client{region = "eu-west-1"}
eu_again:list_tables{}
print(eu:info().region, default:info().region)
]], profile_env(server, "r"))
    local stats, log = server.stop(), server.log()
    assert.are.equal(0, code, err)
    assert.are.equal("eu-west-1\tus-east-1\n", out)
    assert.are.equal(2, stats.issued_sts)         -- eu_again shares eu's cache
    assert.are.equal(3, stats.ddb_ok)
    local _, eu_calls = log:gsub("sts AssumeRole [^\n]* region=eu%-west%-1 source=AKIDBASE1 signature=ok", "")
    local _, us_calls = log:gsub("sts AssumeRole [^\n]* region=us%-east%-1 source=AKIDBASE1 signature=ok", "")
    assert.are.equal(1, eu_calls, log)
    assert.are.equal(1, us_calls, log)
  end)
end)
