#!/usr/bin/env ruby
# frozen_string_literal: true

# serve.rb PORT: migrate and seed the demo database, then serve the demo
# app on BIND (default 127.0.0.1):PORT, or on the listening socket
# LISTEN_FD names, in the foreground until SIGINT or SIGTERM. Without DEMO_DATABASE the database is a temporary file, removed
# at exit. Use examples/rails/run-demo.
require "tmpdir"
require "fileutils"

port = Integer(ARGV.fetch(0) { abort "usage: serve PORT" })
bind = ENV.fetch("BIND", "127.0.0.1")
unless ENV["DEMO_DATABASE"]
  tmp = Dir.mktmpdir("legacy-auth-demo-")
  at_exit { FileUtils.rm_rf(tmp) }
  ENV["DEMO_DATABASE"] = File.join(tmp, "demo.sqlite3")
end

require_relative "config/environment"
require "rack/handler/webrick"

# A request without Content-Length or Transfer-Encoding has no body (RFC
# 9112 6.3); WEBrick answers such a POST 411 instead (curl -X POST sends
# one). Puma and Unicorn read it as empty; so does the demo.
module EmptyBodyWithoutLength
  def read_body(socket, block)
    return @body if socket && self["transfer-encoding"].nil? && self["content-length"].nil? && @remaining_size.nil?

    super
  end
end
WEBrick::HTTPRequest.prepend(EmptyBodyWithoutLength)

require_relative "db/prepare"
ActiveRecord::Base.logger.silence { DemoDatabase.prepare! }

# PUMA_THREADS=N (make bench): Puma with N threads, one process, as a Rails
# deployment serves; the requests beyond N wait in Puma's queue and the
# accept queue, and a request is worked on to the end even when its caller
# has gone.
if (threads = ENV["PUMA_THREADS"].to_i).positive? && !ENV["LISTEN_FD"]
  require "rack/handler/puma"
  $stdout.puts "legacy_auth_verify demo listening on http://#{bind}:#{port} (verify: /internal/auth/verify; Puma, #{threads} threads)"
  $stdout.flush
  Rack::Handler::Puma.run(Rails.application, Host: bind, Port: port, Threads: "#{threads}:#{threads}", Silent: true)
  exit
end

# LISTEN_FD: the gateway (make run) binds the port itself and hands the
# listening socket over, so that no other process can take the port and
# receive the users' credentials; without it, bind as usual.
listen_fd = ENV["LISTEN_FD"]
options = { Host: bind, Port: port, AccessLog: [], Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN) }
options[:DoNotListen] = true if listen_fd
Rack::Handler::WEBrick.run(Rails.application, **options) do |server|
  server.listeners << TCPServer.for_fd(Integer(listen_fd)) if listen_fd
  %w[INT TERM].each { |sig| trap(sig) { server.shutdown } }
  $stdout.puts "legacy_auth_verify demo listening on http://#{bind}:#{port} (verify: /internal/auth/verify)"
  $stdout.flush
end
