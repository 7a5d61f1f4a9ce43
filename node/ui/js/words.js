// words.js: the API's codes in words.

// Lookup reasons (docs/api.md section 4), in the order the select shows them.
export const LOOKUP_REASONS = [
	['lost_pin', 'Lost PIN'],
	['forgot_pin', 'Forgot PIN'],
	['lost_startup_key', 'Lost startup key'],
	['bios_changed', 'BIOS changed'],
	['os_files_modified', 'OS files modified'],
	['tpm_reset', 'TPM reset'],
	['lost_tpm', 'Lost TPM'],
	['other', 'Other'],
];

export const STATUSES = [
	['compliant', 'Compliant'],
	['noncompliant', 'Noncompliant'],
	['exempt', 'Exempt'],
	['unknown', 'Unknown'],
];

const STATUS_WORDS = Object.fromEntries(STATUSES);

const VERDICT_REASONS = {
	os_volume_not_protected: 'OS volume not protected',
	fixed_volume_not_protected: 'Fixed volume not protected',
	removable_volume_not_protected: 'Removable volume not protected',
	protection_suspended: 'Protection suspended',
	encryption_method_not_allowed: 'Encryption method not allowed',
	os_protector_not_allowed: 'OS volume protector not allowed',
	no_recovery_password: 'No recovery password',
	recovery_key_not_escrowed: 'Recovery key not escrowed',
	rotation_pending: 'Key rotation pending',
};

const VOLUME_TYPES = { os: 'OS', fixed: 'Fixed', removable: 'Removable' };

const PROTECTION = { on: 'On', off: 'Off', suspended: 'Suspended' };

const CONVERSION = {
	fully_encrypted: 'Fully encrypted',
	encrypting: 'Encrypting',
	decrypting: 'Decrypting',
	fully_decrypted: 'Fully decrypted',
	paused: 'Paused',
};

const METHODS = {
	xts_aes_256: 'XTS-AES 256',
	xts_aes_128: 'XTS-AES 128',
	aes_cbc_256: 'AES-CBC 256',
	aes_cbc_128: 'AES-CBC 128',
	none: 'None',
};

const PROTECTORS = {
	tpm: 'TPM',
	tpm_pin: 'TPM + PIN',
	tpm_startup_key: 'TPM + startup key',
	tpm_pin_startup_key: 'TPM + PIN + startup key',
	startup_key: 'Startup key',
	password: 'Password',
	recovery_password: 'Recovery password',
	recovery_key: 'Recovery key',
};

export const AUDIT_ACTIONS = [
	'key.read', 'key.read_miss', 'key.escrow', 'snapshot.save',
	'cluster.init', 'cluster.add', 'cluster.remove', 'cluster.transfer',
	'policy.set', 'machine.exempt',
];

function word(table, code) {
	if (code === null || code === undefined || code === '') {
		return '—';
	}
	return Object.prototype.hasOwnProperty.call(table, code) ? table[code] : String(code);
}

export const lookupReasonWord = code => word(Object.fromEntries(LOOKUP_REASONS), code);
export const statusWord = code => word(STATUS_WORDS, code);
export const verdictReasonWord = code => word(VERDICT_REASONS, code);
export const volumeTypeWord = code => word(VOLUME_TYPES, code);
export const protectionWord = code => word(PROTECTION, code);
export const conversionWord = code => word(CONVERSION, code);
export const methodWord = code => word(METHODS, code);
export const protectorWord = code => word(PROTECTORS, code);
