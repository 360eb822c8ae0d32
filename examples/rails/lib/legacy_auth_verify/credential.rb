# frozen_string_literal: true

module LegacyAuthVerify
  # Credential computes the canonical form of a credential, the one the
  # plugin keys, hashes and forwards (internal/identity/credential.go): Rails reads one
  # token in many spellings ("Bearer X", "bearer X", "Bearer  X",
  # "Token token=\"X\"", "Bearer X, x=1") and Rack percent-decodes cookie
  # values, so a revocation must name the one form every spelling maps to.
  #
  #   Authorization  "Bearer <token>"  the token as Rails' token parser reads it
  #   Cookie         "name=<Rack::Utils.escape(value)>"
  #
  # The shared fixture test/fixtures/canonical.json (at the repository
  # root) is checked against this module and against the plugin.
  module Credential
    TOKEN_REGEX = /\A(Token|Bearer)\s+/i.freeze
    DELIMITERS = /(?:,|;|\t)/.freeze
    TOKEN_KEY = "token="

    module_function

    # canonical_authorization is "Bearer <token>", or nil when the value
    # is not a token Rails would read the same way back (the plugin then
    # refuses it without calling Rails).
    def canonical_authorization(value)
      token = token_of(value.to_s)
      return nil if token.nil?

      canonical = "Bearer #{token}"
      token_of(canonical) == token ? canonical : nil
    end

    # canonical_cookie is "name=value" with the value as Rails writes it;
    # value is the cookie's value as the app reads it (cookies[name]).
    def canonical_cookie(name, value)
      "#{name}=#{Rack::Utils.escape(value.to_s)}"
    end

    # token_of is ActionController::HttpAuthentication::Token's parser
    # (actionpack 6.1) reduced to the token, with the scheme matched
    # case-insensitively (RFC 7235).
    def token_of(value)
      return nil unless value.match?(TOKEN_REGEX)

      params = value.sub(TOKEN_REGEX, "").split(DELIMITERS).map(&:strip).reject(&:empty?)
      first = params.first.to_s
      first = "#{TOKEN_KEY}#{first}" unless first.start_with?(TOKEN_KEY)
      token = first.split(/=(.+)?/)[1].to_s.gsub(/\A"|"\z/, "")
      token.empty? ? nil : token
    end
  end
end
