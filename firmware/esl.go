package firmware

// HTTPSCACertsFWCfg is the firmware configuration item OVMF reads the CA
// certificates for UEFI HTTPS boot from (its TlsAuthConfigDxe stores them
// as the TlsCaCertificate variable), as an EFI signature list (lab/pki's
// HTTPSBootCACerts).
const HTTPSCACertsFWCfg = "etc/edk2/https/cacerts"
