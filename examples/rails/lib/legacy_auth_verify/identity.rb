# frozen_string_literal: true

module LegacyAuthVerify
  # ConfigurationError is raised (a 500, which Kong reports as 502 and does
  # not cache) when a lambda returns something the contract cannot carry.
  class ConfigurationError < StandardError; end

  # Identity builds the 200 answer from a user, with the plugin's rules
  # (internal/identity/verify.go), so that no user's answer is one the plugin
  # refuses (a 500 for every request of that user: a display name the user
  # can edit must not lock its owner out). The shared fixture
  # test/fixtures/answers.json (at the repository root) is checked here and
  # by the plugin's Go tests.
  #
  #   user_id  an Integer, or a String of 1 to 256 bytes without control
  #            characters or spaces around it; anything else is a
  #            ConfigurationError (the app's own mistake, not the user's)
  #   roles    Strings with spaces around them trimmed; empty ones, ones
  #            over 256 bytes or with a comma or a control character
  #            dropped; duplicates once; the first 256 kept
  #   extra    Strings trimmed, and nil (the header cleared) when over
  #            1024 bytes or with a control character; Integers, booleans
  #            and nil as they are
  module Identity
    RESERVED = %w[user_id roles].freeze
    # Kong refuses roles and ids with control characters (header injection).
    CONTROL = /[[:cntrl:]]/.freeze
    MAX_USER_ID_BYTES = 256
    MAX_ROLES = 256
    MAX_ROLE_BYTES = 256
    MAX_EXTRA_BYTES = 1024

    module_function

    # answer is the JSON-ready hash for user.
    def answer(user)
      config = LegacyAuthVerify.config
      body = { "user_id" => user_id_of(user), "roles" => roles_of(user) }
      (config.extra_fields.call(user) || {}).each do |key, value|
        key = key.to_s
        next if RESERVED.include?(key)

        body[key] = extra_value(key, value)
      end
      body
    end

    # user_id_of is config.user_id for user, checked: an Integer goes out as
    # a JSON integer with every digit (never through a Float), a String as a
    # string. A Float or BigDecimal id would reach Kong as 42.0: refused.
    def user_id_of(user)
      id = LegacyAuthVerify.config.user_id.call(user)
      case id
      when Integer then id
      when String
        if id.empty? || id.match?(CONTROL) || id.bytesize > MAX_USER_ID_BYTES || id != id.strip
          raise ConfigurationError, "user_id is empty, over #{MAX_USER_ID_BYTES} bytes, or has control characters or spaces around it"
        end

        id
      else
        raise ConfigurationError, "user_id must be an Integer or a String, got #{id.class}"
      end
    end

    def roles_of(user)
      Array(LegacyAuthVerify.config.roles.call(user)).map { |r| r.to_s.strip }
                                                   .reject { |r| r.empty? || r.bytesize > MAX_ROLE_BYTES || r.include?(",") || r.match?(CONTROL) }
                                                   .uniq
                                                   .first(MAX_ROLES)
    end

    def extra_value(key, value)
      case value
      when nil, true, false, Integer then value
      when String, Symbol
        v = value.to_s.strip
        v.bytesize > MAX_EXTRA_BYTES || v.match?(CONTROL) ? nil : v
      else
        raise ConfigurationError, "extra field #{key} must be a String, an Integer, a boolean or nil, got #{value.class}"
      end
    end
  end
end
