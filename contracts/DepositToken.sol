// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title DepositToken
/// @notice A minimal ERC-20 tokenized bank deposit. The issuing bank (owner) mints on deposit and
///         burns on withdrawal; holders transfer freely. Mints come from and burns go to address(0)
///         in the standard Transfer event, which is what the reconciliation engine reads.
contract DepositToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    address public owner;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    /// @notice Emitted beside Transfer by mintWithReference: carries the bank's tokenization reference.
    event Minted(address indexed to, uint256 amount, bytes32 indexed ref);
    /// @notice The issuer's attestation of the collateral (reserves) backing the supply.
    event CollateralUpdated(uint256 amount, bytes32 indexed proof);

    error NotOwner();
    error InsufficientBalance();
    error InsufficientAllowance();
    error ZeroAddress();
    error LengthMismatch();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        owner = msg.sender;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert InsufficientAllowance();
            allowance[from][msg.sender] = allowed - amount;
        }
        _transfer(from, to, amount);
        return true;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function mintWithReference(address to, uint256 amount, bytes32 ref) external onlyOwner {
        _mint(to, amount);
        emit Minted(to, amount, ref);
    }

    /// @notice Mints to many holders in one transaction (one Transfer each): bulk issuance, and
    ///         benchmarks that need many logs fast.
    function mintBatch(address[] calldata to, uint256[] calldata amounts) external onlyOwner {
        if (to.length != amounts.length) revert LengthMismatch();
        for (uint256 i = 0; i < to.length; i++) _mint(to[i], amounts[i]);
    }

    /// @notice Records the collateral backing the deposits, with a reference to its proof.
    function attestCollateral(uint256 amount, bytes32 proof) external onlyOwner {
        emit CollateralUpdated(amount, proof);
    }

    /// @notice The owner burns a holder's tokens when the bank pays out a withdrawal.
    function burn(address from, uint256 amount) external onlyOwner {
        if (balanceOf[from] < amount) revert InsufficientBalance();
        balanceOf[from] -= amount;
        totalSupply -= amount;
        emit Transfer(from, address(0), amount);
    }

    function _mint(address to, uint256 amount) internal {
        if (to == address(0)) revert ZeroAddress();
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _transfer(address from, address to, uint256 amount) internal {
        if (to == address(0)) revert ZeroAddress();
        if (balanceOf[from] < amount) revert InsufficientBalance();
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
