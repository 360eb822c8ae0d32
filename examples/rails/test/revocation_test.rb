# frozen_string_literal: true

require_relative "test_helper"
require "socket"
require "timeout"
require "redis"

# The revocation hooks publish the plugin's messages on a real
# redis-server (skipped when redis-server is not installed, failed in CI).
class RevocationTest < ActionDispatch::IntegrationTest
  include VerifyHelpers

  # RedisServer is a throwaway redis-server on a free loopback port.
  class RedisServer
    attr_reader :url

    def self.binary
      ["redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"].find do |b|
        system(b, "--version", out: File::NULL, err: File::NULL)
      end
    end

    def initialize(binary)
      port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
      @pid = Process.spawn(binary, "--port", port.to_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                           out: File::NULL, err: File::NULL)
      @url = "redis://127.0.0.1:#{port}/0"
      Timeout.timeout(10) do
        begin
          Redis.new(url: @url).ping
        rescue Redis::CannotConnectError
          sleep 0.02
          retry
        end
      end
    end

    def stop
      Process.kill("TERM", @pid)
      Process.wait(@pid)
    end
  end

  def setup
    binary = RedisServer.binary
    unless binary
      flunk "redis-server is required in CI (apt-get install redis-server)" if ENV["CI"] == "true"
      skip "redis-server is not installed (apt-get install redis-server)"
    end
    @redis = RedisServer.new(binary)
    LegacyAuthVerify::Revocation.reset
  end

  def teardown
    LegacyAuthVerify::Revocation.reset
    @redis&.stop
  end

  # published runs the block while subscribed to channel and returns the
  # messages received (waiting at most 5 s for count of them).
  def published(channel, count: 1)
    messages = Queue.new
    subscribed = Queue.new
    sub = Redis.new(url: @redis.url)
    thread = Thread.new do
      sub.subscribe_with_timeout(10, channel) do |on|
        on.subscribe { subscribed << true }
        on.message do |_ch, msg|
          messages << JSON.parse(msg)
          sub.unsubscribe if messages.size >= count
        end
      end
    rescue Redis::TimeoutError
      nil
    end
    Timeout.timeout(5) { subscribed.pop }
    yield
    Timeout.timeout(5) { thread.join }
    Array.new(messages.size) { messages.pop }
  end

  test "logout publishes the user id on legacy-auth:revoke" do
    cookie = login("alice", "alice-pw")
    got = with_config(redis_url: @redis.url) do
      published("legacy-auth:revoke") do
        post "/logout", headers: { "Cookie" => cookie }
        assert_response :no_content
      end
    end
    assert_equal [{ "user_id" => "42" }], got
  end

  test "a token logout names the user and SHA-256 of the Authorization value" do
    got = with_config(redis_url: @redis.url) do
      published("legacy-auth:revoke") do
        post "/logout", headers: { "Authorization" => "Bearer tok-big" }
        assert_response :no_content
      end
    end
    assert_equal [{ "user_id" => "9007199254740993",
                    "credential_sha256" => Digest::SHA256.hexdigest("Bearer tok-big") }], got
  end

  test "role change, password change and account disable publish the user id under the configured prefix" do
    user = User.find(7)
    got = with_config(redis_url: @redis.url, redis_prefix: "other:") do
      published("other:revoke", count: 3) do
        LegacyAuthVerify.on_role_change(user)
        LegacyAuthVerify.on_password_change(user)
        LegacyAuthVerify.on_account_disable(user)
      end
    end
    assert_equal [{ "user_id" => "7" }] * 3, got
  end

  test "revoke_authorization publishes the credential hash alone" do
    got = with_config(redis_url: @redis.url) do
      published("legacy-auth:revoke") { assert LegacyAuthVerify::Revocation.revoke_authorization("Bearer x") }
    end
    assert_equal [{ "credential_sha256" => Digest::SHA256.hexdigest("Bearer x") }], got
  end

  test "without redis_url nothing is published and logout still ends the session" do
    cookie = login("alice", "alice-pw")
    refute LegacyAuthVerify::Revocation.revoke_user(42)
    post "/logout", headers: { "Cookie" => cookie }
    assert_response :no_content
    assert_contract(verify(:post, cookie: cookie), 401)
  end

  test "with Redis down the logout still ends the session at Rails" do
    cookie = login("alice", "alice-pw")
    @redis.stop
    dead_url = @redis.url
    @redis = nil
    with_config(redis_url: dead_url) do
      post "/logout", headers: { "Cookie" => cookie }
      assert_response :no_content
    end
    assert_contract(verify(:post, cookie: cookie), 401)
  end
end
