-- The Debian package that `make deb` builds (make test builds it first):
-- installed on this machine with dpkg -i and apt-get -f install, run from
-- /usr/bin, and removed without leaving anything behind. Needs root, so it
-- runs where CI runs: a throw-away machine. A lock keeps two suites on one
-- machine from installing (or checking what is installed) at the same time.
local helper = require("helper")

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function deb_path()
  local build = os.getenv("DDBRUN_BUILD") or "build"
  local out = sh(string.format("ls %s/%s/ddbrun_*_*.deb", helper.shell_quote(helper.root), build))
  return out:match("^([^\n]+%.deb)\n$")
end

describe("the Debian package", function()
  it("installs with dpkg -i and apt-get -f install, runs, and removes cleanly", function()
    local deb = deb_path()
    assert.truthy(deb, "no ddbrun_VERSION_ARCH.deb in the build directory: run make deb")
    assert.are.equal("0\n", (sh("id -u")), "installing the package needs root (CI runs as root)")

    -- Everything, the check that no ddbrun package is installed included,
    -- runs under the lock: another suite's install is removed before it ends.
    local dir = helper.tmpdir()   -- no .env there
    local steps = table.concat({
      "cd " .. helper.shell_quote(dir),
      "echo \"BEFORE $(dpkg-query -W -f='${Status}' ddbrun 2>/dev/null)\"",
      "dpkg-query -W -f='${Status}' ddbrun 2>/dev/null | grep -q 'ok installed' && exit 0",
      "dpkg -i " .. helper.shell_quote(deb) .. " >dpkg.log 2>&1; echo \"DPKG $?\"",
      "apt-get -f install -y -qq -o DPkg::Lock::Timeout=300 >apt.log 2>&1; echo \"APT $?\"",
      "echo \"STATUS $(dpkg-query -W -f='${Status}' ddbrun)\"",
      "echo \"VERSION $(/usr/bin/ddbrun -v)\"",
      "/usr/bin/ddbrun /usr/share/ddbrun/scripts/create_tables.lua --help; echo \"HELP $?\"",
      "echo \"MAN $(test -f /usr/share/man/man1/ddbrun.1.gz && echo yes)\"",
      "echo \"COPYRIGHT $(grep -c 'License: MIT' /usr/share/doc/ddbrun/copyright)\"",
      "dpkg -r ddbrun >remove.log 2>&1; echo \"REMOVE $?\"",
      "echo \"LEFT $(ls -d /usr/bin/ddbrun /usr/share/ddbrun /usr/share/man/man1/ddbrun.1.gz /usr/share/doc/ddbrun 2>/dev/null)\"",
      "dpkg -P ddbrun >/dev/null 2>&1",
      "echo \"AFTER $(dpkg-query -W -f='${Status}' ddbrun 2>/dev/null)\"",
    }, "\n")
    local out = sh(string.format("flock -w 900 /tmp/ddbrun-deb-spec.lock sh -c %s", helper.shell_quote(steps)))
    local logs = (helper.read_file(dir .. "/dpkg.log") or "") .. (helper.read_file(dir .. "/apt.log") or "")
    os.execute("rm -rf " .. helper.shell_quote(dir))

    assert.is_nil(out:find("^BEFORE [^\n]*ok installed"),
      "a ddbrun package is already installed here; this spec would replace and remove it")
    assert.truthy(out:find("\nAPT 0\n", 1, true), out .. logs)
    assert.truthy(out:find("\nSTATUS install ok installed\n", 1, true), out .. logs)
    assert.truthy(out:find("\nVERSION ddbrun %d+%.%d+%.%d+ %(Lua 5%.4"), out)
    assert.truthy(out:find("usage: ddbrun scripts/create_tables.lua [--shards N] [--delete | --recreate]\n", 1, true), out)
    assert.truthy(out:find("\nHELP 0\n", 1, true), out)
    assert.truthy(out:find("\nMAN yes\n", 1, true), out)
    assert.truthy(out:find("\nCOPYRIGHT 2\n", 1, true), out)
    assert.truthy(out:find("\nREMOVE 0\n", 1, true), out)
    assert.truthy(out:find("\nLEFT \n", 1, true), out)
    assert.truthy(out:find("\nAFTER \n", 1, true) or out:find("\nAFTER unknown ok not%-installed\n"), out)
  end)
end)
