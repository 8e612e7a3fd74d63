-- Sends pre-signed requests, each once: thread N of M takes lines N, N+M, ... of the file.
-- A line is: METHOD \t PATH \t HEADERS (name:value joined by \1) \t BODY
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  local path, count = args[1], tonumber(args[2])
  local line_no = 0
  for line in io.lines(path) do
    if line_no % count == id then
      local method, target, headers, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local parsed = {}
      for pair in headers:gmatch("[^\1]+") do
        local name, value = pair:match("^([^:]+):(.*)$")
        parsed[name] = value
      end
      table.insert(requests, wrk.format(method, target, parsed, body))
    end
    line_no = line_no + 1
  end
  next_request = 1
end

function request()
  local r = requests[next_request]
  next_request = next_request + 1
  if next_request > #requests then next_request = 1 end
  return r
end
