-- The interactive prompt in a real terminal: tmux runs `ddbrun -i`, the spec
-- types into it and reads the screen back (capture-pane), waiting for what
-- it expects to appear.
local helper = require("helper")

local WAIT_SECONDS = 60   -- an upper bound for a busy CI machine, not a pace

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local function tmux_session()
  local dir = helper.tmpdir()
  local t = { dir = dir, home = dir .. "/home", socket = dir .. "/tmux.sock" }
  os.execute("mkdir -p " .. helper.shell_quote(t.home))
  local tmux = "tmux -S " .. helper.shell_quote(t.socket)

  -- Everything on the screen and in its scroll-back.
  function t.screen()
    return (sh(tmux .. " capture-pane -p -J -S - -t ddbrun"))
  end

  -- Waits until text appears on the screen `times` times (default 1).
  function t.wait(text, times)
    local script = string.format(
      "for i in $(seq %d); do n=$(%s capture-pane -p -J -S - -t ddbrun | grep -cF -- %s); " ..
      "[ \"$n\" -ge %d ] && exit 0; sleep 0.05; done; exit 1",
      WAIT_SECONDS * 20, tmux, helper.shell_quote(text), times or 1)
    local _, ok = sh(script)
    assert(ok, "the screen never showed " .. text .. " (x" .. (times or 1) .. "):\n" .. t.screen())
  end

  -- Types text literally (tmux would read "end" as the End key), then keys.
  function t.type(text, ...)
    if text ~= "" then sh(tmux .. " send-keys -t ddbrun -l " .. helper.shell_quote(text)) end
    for _, key in ipairs { ... } do sh(tmux .. " send-keys -t ddbrun " .. key) end
  end

  function t.line(text) t.type(text, "Enter") end

  function t.start(args, env)
    local cmd = string.format("cd %s && HOME=%s %s %s %s; echo \"ddbrun exited $?\"; exec cat",
      helper.shell_quote(t.dir), helper.shell_quote(t.home), env or "", helper.shell_quote(helper.ddbrun), args)
    local out, ok = sh(string.format("%s new-session -d -s ddbrun -x 120 -y 50 %s", tmux, helper.shell_quote(cmd)))
    assert(ok, out)
  end

  function t.stop()
    sh(tmux .. " kill-server")
    os.execute("rm -rf " .. helper.shell_quote(dir))
  end
  return t
end

describe("ddbrun interactive prompt", function()
  local t, client, name

  setup(function()
    client = helper.client()
    -- '-' sorts before digits and letters: among the 20 names the prompt shows
    -- of a list, however many tables the other specs have made.
    name = helper.unique("-repl")
    client:create_table {
      TableName = name, BillingMode = "PAY_PER_REQUEST",
      AttributeDefinitions = { { AttributeName = "pk", AttributeType = "S" } },
      KeySchema = { { AttributeName = "pk", KeyType = "HASH" } },
    }
  end)

  teardown(function()
    client:delete_table { TableName = name }
  end)

  before_each(function()
    t = tmux_session()
  end)

  after_each(function()
    t.stop()
  end)

  it("lists tables, round-trips an item, reports an error, continues a function, recalls history", function()
    t.start("--no-env -i")
    t.wait("ddb> ")

    t.line("client:list_tables{}")
    t.wait('"' .. name .. '",')
    assert.truthy(t.screen():find("TableNames = {", 1, true))

    t.line(string.format('client:put_item{TableName=%q, Item={pk="k1", n=ddb.number("12345678901234567890123"), ' ..
                         'tags=ddb.set{"y","x"}, bin=ddb.binary("abc")}}', name))
    t.line(string.format('client:get_item{TableName=%q, Key={pk="k1"}}', name))
    t.wait('n = ddb.number("12345678901234567890123"),')
    local screen = t.screen()
    assert.truthy(screen:find('tags = ddb.set{"x", "y"},', 1, true), screen)
    assert.truthy(screen:find("bin = ddb.binary(3 bytes),", 1, true), screen)
    assert.truthy(screen:find('Item = {\n    bin = ', 1, true), screen)

    t.line('client:get_item{TableName="NoSuchTable_repl", Key={pk="a"}}')
    t.wait("ddbrun: ResourceNotFoundException: ")

    t.line("function twice(x)")
    t.wait("...> ")
    t.line("return x * 2")
    t.line("end")
    t.line("=twice(21) + 0.5")
    t.wait("42.5")

    t.type("", "Up")
    t.wait("ddb> =twice(21) + 0.5", 2)
    t.type("", "Enter")
    t.wait("42.5", 2)   -- the result of the recalled line

    t.type("", "C-d")
    t.wait("ddbrun exited 0")
  end)

  it("clears the line on Ctrl-C, stops a running call on Ctrl-C, keeps history without secrets", function()
    local credentials = t.dir .. "/credentials"
    helper.write_file(credentials, "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = profilesecret0123\n")
    t.start("--no-env", "AWS_SHARED_CREDENTIALS_FILE=" .. helper.shell_quote(credentials))   -- no script: the prompt
    t.wait("ddb> ")

    -- Ctrl-C flushes the terminal's input queue: each one waits until what
    -- came before it has reached ddbrun.
    t.type("this would not compile")
    t.wait("ddb> this would not compile")
    t.type("", "C-c")
    t.wait("ddb> ", 2)
    t.line("=6 * 7")
    t.wait("42")

    -- A job calling DynamoDB in a loop. (A loop of pure Lua stops the same
    -- way, except under ThreadSanitizer, which holds signal handlers back
    -- until the next call it intercepts.)
    t.line('print(("loop"):upper()) for i = 1, math.huge do client:list_tables{} end')
    t.wait("LOOP")
    t.type("", "C-c")
    t.wait("interrupted!")
    t.line('=("still"):upper()')
    t.wait("STILL")

    local secret = os.getenv("AWS_SECRET_ACCESS_KEY")
    t.line(string.format("s = %q", secret))
    t.line('p = "profilesecret0123"')
    t.line('c = ddb.client{secret_access_key = "typed in"}')
    t.line("=#s + #p")
    t.wait(tostring(#secret + 17))
    t.type("", "C-d")
    t.wait("ddbrun exited 0")

    local out = sh("stat -c %a " .. helper.shell_quote(t.home .. "/.ddbrun_history"))
    assert.are.equal("600\n", out)
    local history = helper.read_file(t.home .. "/.ddbrun_history")
    assert.are.equal('=6 * 7\nprint(("loop"):upper()) for i = 1, math.huge do client:list_tables{} end\n=("still"):upper()\n=#s + #p\n', history)
  end)
end)
