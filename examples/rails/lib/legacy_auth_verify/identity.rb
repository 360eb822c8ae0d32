# frozen_string_literal: true

module LegacyAuthVerify
  # ConfigurationError is raised (a 500, which Kong reports as 502 and does
  # not cache) when a lambda returns something the contract cannot carry.
  class ConfigurationError < StandardError; end

  # Identity builds the 200 answer from a user, within the plugin's rules
  # (plugin/identity.go): user_id a JSON integer or string, roles strings
  # without commas or control characters, extra values strings, integers or
  # booleans.
  module Identity
    RESERVED = %w[user_id roles].freeze
    # Kong refuses roles and ids with control characters (header injection).
    CONTROL = /[[:cntrl:]]/.freeze

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
        raise ConfigurationError, "user_id is empty or has control characters" if id.empty? || id.match?(CONTROL)

        id
      else
        raise ConfigurationError, "user_id must be an Integer or a String, got #{id.class}"
      end
    end

    def roles_of(user)
      Array(LegacyAuthVerify.config.roles.call(user)).map(&:to_s)
                                                   .reject { |r| r.empty? || r.include?(",") || r.match?(CONTROL) }
                                                   .uniq
    end

    def extra_value(key, value)
      case value
      when nil, true, false, Integer then value
      when String, Symbol then value.to_s
      else
        raise ConfigurationError, "extra field #{key} must be a String, an Integer, a boolean or nil, got #{value.class}"
      end
    end
  end
end
