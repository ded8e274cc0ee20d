-- .env files: the parser (table-driven) and how ddbrun loads them.
local ddb = require("ddb")
local helper = require("helper")

describe(".env parsing", function()
  local cases = {
    { "comments and blank lines", "# a comment\n\n   # indented comment\nA=1\n", { A = "1" } },
    { "export prefix", "export A=1\nexport   B = two\n", { A = "1", B = "two" } },
    { "empty values", "A=\nB=''\nC=\"\"\n", { A = "", B = "", C = "" } },
    { "spaces trimmed, inner spaces kept", "A =  hello world  \n", { A = "hello world" } },
    { "inline comment after a space", "A=value # note\nB=val#ue\n", { A = "value", B = "val#ue" } },
    { "single quotes are literal", "A='x # y \\n $HOME'\n", { A = "x # y \\n $HOME" } },
    { "double quotes with escapes", 'A="line1\\nline2\\t\\"q\\" \\\\"\n', { A = 'line1\nline2\t"q" \\' } },
    { "CRLF line endings", "A=1\r\nB=2\r\n", { A = "1", B = "2" } },
    { "equals inside the value", "URL=http://h:1/?a=b\n", { URL = "http://h:1/?a=b" } },
    { "last assignment wins", "A=1\nA=2\n", { A = "2" } },
  }
  for _, case in ipairs(cases) do
    it(case[1], function()
      assert.are.same(case[3], ddb.parse_env(case[2], "test.env"))
    end)
  end

  local errors = {
    { "a line without =", "A=1\nJUSTAKEY\n", "test.env:2: expected '=' after the key" },
    { "a key starting with a digit", "\n\n1A=x\n", "test.env:3: expected KEY=VALUE (a key is letters, digits and _, not starting with a digit)" },
    { "an unterminated double quote", 'A="abc\n', "test.env:1: unterminated double quote" },
    { "an unterminated single quote", "A='abc\n", "test.env:1: unterminated single quote" },
    { "text after a closing quote", 'A="abc" d\n', "test.env:1: unexpected text after closing quote" },
  }
  for _, case in ipairs(errors) do
    it("names the line of " .. case[1], function()
      local ok, err = pcall(ddb.parse_env, case[2], "test.env")
      assert.is_false(ok)
      assert.are.equal(case[3], err)
    end)
  end
end)

describe(".env loading by ddbrun", function()
  local show = helper.shell_quote("print(os.getenv('DDBRUN_T1'), os.getenv('DDBRUN_T2'))")

  it("reads ./.env before the script runs", function()
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/.env", "DDBRUN_T1=from-file\nexport DDBRUN_T2='two'\n")
    local out, err, code = helper.run("-e " .. show, { dir = dir, unset = { "DDBRUN_T1", "DDBRUN_T2" } })
    assert.are.equal(0, code, err)
    assert.are.equal("from-file\ttwo\n", out)
  end)

  it("lets real environment variables win over .env", function()
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/.env", "DDBRUN_T1=from-file\nDDBRUN_T2=file2\n")
    local out = helper.run("-e " .. show, { dir = dir, env = { DDBRUN_T1 = "from-env" }, unset = { "DDBRUN_T2" } })
    assert.are.equal("from-env\tfile2\n", out)
  end)

  it("reads another file with --env and ignores ./.env with --no-env", function()
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/.env", "DDBRUN_T1=default\n")
    helper.write_file(dir .. "/other.env", "DDBRUN_T1=other\n")
    local unset = { unset = { "DDBRUN_T1", "DDBRUN_T2" }, dir = dir }
    assert.are.equal("other\tnil\n", (helper.run("--env other.env -e " .. show, unset)))
    assert.are.equal("nil\tnil\n", (helper.run("--no-env -e " .. show, unset)))
  end)

  it("stops with the file and line of a malformed line, setting nothing", function()
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/.env", "DDBRUN_T1=ok\nthis is wrong\n")
    local out, err, code = helper.run("-e " .. show, { dir = dir, unset = { "DDBRUN_T1" } })
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("ddbrun: .env:2: expected '=' after the key\n", err)
  end)

  it("fails when the --env file is missing", function()
    local _, err, code = helper.run("--env /nonexistent.env -e 'print(1)'")
    assert.are.equal(1, code)
    assert.are.equal("ddbrun: /nonexistent.env: No such file or directory\n", err)
  end)
end)
