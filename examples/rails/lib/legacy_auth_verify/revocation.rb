# frozen_string_literal: true

module LegacyAuthVerify
  # Revocation publishes the plugin's revocation messages on its Redis
  # channel (<redis_prefix>revoke, plugin/sharedcache): every Kong node's
  # plugin process drops the matching identities from its own cache and
  # from the shared Redis cache within milliseconds, instead of serving
  # them until cache_ttl runs out.
  #
  #   {"user_id": "42"}                      every credential of user 42
  #   {"credential_sha256": "<64 hex>"}      one credential
  #
  # Publishing is best effort by design: a failure is logged, never raised,
  # so a logout still ends the session at Rails when Redis is down (Kong
  # then drops the identity at cache_ttl at the latest).
  module Revocation
    TIMEOUT = 1 # seconds for connect, read and write: a logout must not hang on Redis

    @mutex = Mutex.new

    class << self
      # revoke_user evicts every cached identity of user_id at every node.
      def revoke_user(user_id)
        publish("user_id" => user_id.to_s)
      end

      # revoke sends one message naming the user and, when authorization is
      # given, that credential too.
      def revoke(user_id:, authorization: nil)
        message = { "user_id" => user_id.to_s }
        message["credential_sha256"] = credential_sha256(authorization) if authorization && !authorization.empty?
        publish(message)
      end

      # revoke_authorization evicts one credential at every node.
      def revoke_authorization(authorization)
        publish("credential_sha256" => credential_sha256(authorization))
      end

      # credential_sha256 is the hex SHA-256 of the canonical form of an
      # Authorization value ("Bearer tok-alice" for "Token tok-alice" or
      # "bearer  tok-alice": Credential), which is what the plugin hashes
      # for every spelling of the token. A value the plugin refuses
      # (another scheme) is hashed as given: it was never cached.
      def credential_sha256(authorization)
        Digest::SHA256.hexdigest(Credential.canonical_authorization(authorization) || authorization)
      end

      # cookie_sha256 is the hash a revocation names for one session
      # cookie: SHA-256 of its canonical "name=value".
      def cookie_sha256(name, value)
        Digest::SHA256.hexdigest(Credential.canonical_cookie(name, value))
      end

      # publish sends message as JSON; true when Redis accepted it, false
      # when no redis_url is configured or publishing failed (logged).
      def publish(message)
        config = LegacyAuthVerify.config
        return false if config.redis_url.nil? || config.redis_url.empty?

        receivers = redis(config.redis_url).publish(config.channel, JSON.generate(message))
        config.logger.info("legacy_auth_verify: revocation published to #{receivers} subscriber(s)")
        true
      rescue StandardError => e
        # The message names a user or a hash, never a token; the error
        # text is Redis's own (connection refused, timeout).
        config.logger.warn("legacy_auth_verify: publishing a revocation failed: #{e.class}: #{e.message}")
        false
      end

      # reset drops the memoized connection (tests, or after changing
      # redis_url).
      def reset
        @mutex.synchronize do
          @redis&.close
          @redis = nil
          @redis_url = nil
        end
      end

      private

      # redis is one client per process (redis-rb serialises commands on it
      # and reconnects after a fork by itself).
      def redis(url)
        @mutex.synchronize do
          if @redis.nil? || @redis_url != url
            require "redis"
            @redis&.close
            @redis = Redis.new(url: url, connect_timeout: TIMEOUT, read_timeout: TIMEOUT, write_timeout: TIMEOUT,
                               reconnect_attempts: 1)
            @redis_url = url
          end
          @redis
        end
      end
    end
  end
end
